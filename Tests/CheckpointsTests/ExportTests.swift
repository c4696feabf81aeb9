import Foundation
import Testing
import TestSupport
@testable import Checkpoints
import Formats
import Networks

/// Exported folders: the reference's names and shapes, a config with the reference's structure,
/// a model card, and an exact round trip through the importer.
@Suite struct ExportTests {
  /// A model folder of this project holding a golden network.
  func goldenModelFolder(_ folder: String, in scratch: Scratch) throws -> URL {
    let dir = scratch.url.appendingPathComponent("model-\(folder)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    try FileManager.default.copyItem(at: Golden.url("\(folder)/weights.safetensors"), to: dir.appendingPathComponent("model.safetensors"))
    try FileManager.default.copyItem(at: Golden.url("\(folder)/config.json"), to: dir.appendingPathComponent("config.json"))
    return dir
  }

  @Test(arguments: ["pgm-tiny", "mdlm-tiny"])
  func exportHasTheReferenceNamesAndShapesAndRoundTripsExactly(folder: String) throws {
    let scratch = try Scratch("export-golden")
    defer { scratch.remove() }
    let model = try goldenModelFolder(folder, in: scratch)
    let exported = scratch.url.appendingPathComponent("exported")
    let summary = try ModelExport.write(modelFolder: model, to: exported)

    // Names and shapes: the golden parameters plus the rotary buffer that load_state_dict expects.
    let golden = try SafeTensorsFile(url: Golden.url("\(folder)/weights.safetensors"))
    let written = try SafeTensorsFile(url: exported.appendingPathComponent("model.safetensors"))
    let goldenShapes = Dictionary(uniqueKeysWithValues: golden.entries.map { ($0.name, $0.shape) })
    let writtenShapes = Dictionary(uniqueKeysWithValues: written.entries.map { ($0.name, $0.shape) })
    #expect(writtenShapes.filter { $0.key != "rotary_emb.inv_freq" } == goldenShapes)
    #expect(writtenShapes["rotary_emb.inv_freq"] == [6])
    #expect(written.entries.allSatisfy { $0.dtype == .f32 })
    #expect(summary.tensorCount == golden.entries.count + 1)

    // The buffer holds what the reference's own checkpoint holds, to a few float32 ulps (the reference
    // evaluates the power in float32; this project rounds the exact value once).
    let checkpoint = try TorchCheckpoint(url: Golden.url("\(folder)/lightning.ckpt"))
    let theirs = try checkpoint.read(checkpoint["state_dict"]!["backbone.rotary_emb.inv_freq"]!.tensorValue!).doubles()
    let ours = try written.read("rotary_emb.inv_freq").doubles()
    #expect(zip(ours, theirs).allSatisfy { abs($0 - $1) <= 5e-7 * abs($1) })

    // Round trip: bitwise equal weights, equal config.
    let reimported = scratch.url.appendingPathComponent("reimported")
    let back = try ModelImport.run(source: exported, to: reimported)
    #expect(back.namePrefix == "" && back.weights == "folder")
    let original = try tensors(of: Golden.url("\(folder)/weights.safetensors"))
    let roundTripped = try tensors(of: reimported.appendingPathComponent("model.safetensors"))
    #expect(roundTripped == original)
    #expect(try ModelFolder.readConfig(reimported.appendingPathComponent("config.json"))
      == ModelFolder.readConfig(Golden.url("\(folder)/config.json")))
  }

  @Test func aSyntheticPartitionNetworkRoundTripsThroughExportAndImport() throws {
    let scratch = try Scratch("export-synthetic")
    defer { scratch.remove() }
    let config = ModelConfig(kind: .pgm, vocabSize: 23, hiddenSize: 20, heads: 5, condDim: 6, length: 9, mlpRatio: 3,
                             encoderBlocks: 2, decoderBlocks: 1, preQueryMode: .learnFreqsMean, queryProcessMode: .mlp4,
                             dropout: 0.2)
    let original = try Network(config, seed: 17)
    try ModelExport.write(network: original, to: scratch.file("exported"))
    try ModelImport.run(source: scratch.file("exported"), to: scratch.file("back"))
    let back = try ModelFolder.load(scratch.file("back"))
    #expect(back.config == config)
    #expect(back.parameters.names == original.parameters.names)
    for (a, b) in zip(original.parameters.tensors, back.parameters.tensors) {
      #expect(a.toArray().map(\.bitPattern) == b.toArray().map(\.bitPattern))
    }
    #expect(referenceBatchLogits(back) == referenceBatchLogits(original))
  }

  @Test func configIsTheReferenceHydraConfigurationNestedAndReadsBack() throws {
    let scratch = try Scratch("export-config")
    defer { scratch.remove() }
    let model = try goldenModelFolder("pgm-tiny", in: scratch)
    try ModelExport.write(modelFolder: model, to: scratch.file("exported"))
    let url = scratch.file("exported/config.json")
    // This project reads its ModelConfig back from the reference's sections.
    #expect(try ModelFolder.readConfig(url) == ModelFolder.readConfig(Golden.url("pgm-tiny/config.json")))
    let json = try JSONDecoder().decode(ConfigNode.self, from: Data(contentsOf: url))
    let expected: [String: ConfigNode] = [
      "model.type": .string("encoder-decoder"), "model.hidden_size": .int(48), "model.cond_dim": .int(16),
      "model.length": .int(24), "model.n_heads": .int(4), "model.mlp_ratio": .int(4), "model.dropout": .double(0.1),
      "model.scale_by_sigma": .bool(true), "model.encoder.n_blocks": .int(2), "model.decoder.n_blocks": .int(2),
      "model.decoder.mode": .string("cross-only"), "model.decoder.self_attn_first": .bool(false),
      "model.swap.pre_query_mode": .string("learn+freqs"), "model.swap.query_process_mode": .string("linear"),
      "model.swap.normalize_mode": .string("layernorm"),
      "algo.name": .string("partition-mdlm"), "algo.backbone": .string("encoder-decoder"), "algo.parameterization": .string("subs"),
      "algo.causal_attention": .bool(false), "algo.time_conditioning": .bool(false), "algo.T": .int(0),
      "algo.loss_type": .string("elbo"), "algo.sampling_mode": .string("efficient-uniform"),
      "algo.post_process_mode": .string("efficient"), "algo.subs_masking": .bool(false), "algo.ignore_bos": .bool(false),
      "noise.type": .string("log-linear"), "noise.eps": .double(1e-3),
      "sampling.steps": .int(24), "sampling.eps": .double(1e-5), "sampling.inject_bos": .bool(true),
      "sampling.predictor": .string("ddpm_cache"), "training.sampling_eps": .double(1e-3),
      "vocab_size": .int(37), "T": .int(0), "time_conditioning": .bool(false), "neg_infinity_mode": .string("true-inf"),
      // No data was recorded: the BOS is the one `pgm sample` assumes, and the export says so.
      "tokenizer.vocab_size": .int(36), "tokenizer.mask_token_id": .int(36), "tokenizer.bos_token_id": .int(35),
      "tokenizer.eos_token_id": .null, "tokenizer.files": .list([]),
    ]
    for (path, value) in expected { #expect(json[path] == value, "\(path)") }
    #expect(json["kind"] == nil && json["reference_config"] == nil && json["parameterization"] == nil)
    #expect(json["tokenizer.bos_token_id_source"].map { "\($0)".contains("assumed") } == true)
    let goldenOrder = try JSONDecoder().decode(ConfigNode.self, from: Data(contentsOf: Golden.url("pgm-tiny/config.json")))["parameter_order"]
    #expect(json["parameter_order"] == goldenOrder)

    // The MDLM: the reference's DIT and its post-processing.
    let mdlm = try goldenModelFolder("mdlm-tiny", in: scratch)
    try ModelExport.write(modelFolder: mdlm, to: scratch.file("exported-mdlm"))
    let m = try JSONDecoder().decode(ConfigNode.self, from: Data(contentsOf: scratch.file("exported-mdlm/config.json")))
    #expect(m["model.type"] == .string("ddit-orig") && m["model.n_blocks"] == .int(3) && m["algo.name"] == .string("mdlm"))
    #expect(m["algo.backbone"] == .string("dit") && m["algo.post_process_mode"] == .string("orig") && m["algo.sampling_mode"] == nil)
    #expect(m["neg_infinity_mode"] == .string("large-finite"))
    #expect(try ModelFolder.readConfig(scratch.file("exported-mdlm/config.json")) == ModelFolder.readConfig(Golden.url("mdlm-tiny/config.json")))
  }

  @Test func theContextsIdsSamplingDistillationAndFilesReachTheExport() throws {
    let scratch = try Scratch("export-context")
    defer { scratch.remove() }
    let model = try goldenModelFolder("pgm-tiny", in: scratch)
    try Data("{\"chars\": \"ab\"}".utf8).write(to: scratch.file("vocab.json"))
    let context = ExportContext(
      tokens: ExportContext.Tokens(bosId: 7, bosSource: "a test", eosId: 8, tokenizer: "char/36/sha256:00"),
      data: ExportContext.DataFacts(kind: "text", path: "/nowhere/tokens.h5"),
      sampling: ExportContext.SamplingFacts(steps: 6, nonUniform: true),
      distillation: ExportContext.DistillationFacts(rounds: 2, teacherSteps: 24, teacherStepsPerStudentStep: 2, studentSteps: 6,
                                                   divergence: "kl-bwd", spacing: "even", normalizedTargets: true,
                                                   optimizerStepsPerRound: 100, emaTeacherOnGrowth: false, weights: "ema"),
      provenance: ModelProvenance(dataset: "/nowhere/tokens.h5", run: "/nowhere", round: 2, weights: .ema),
      tokenizerFiles: [scratch.file("vocab.json")],
      extraFiles: [ExportContext.ExtraFile(name: "extra.json", contents: Data("{}".utf8), description: "`extra.json`: a test")])
    let summary = try ModelExport.write(modelFolder: model, to: scratch.file("exported"), context: context)
    #expect(summary.files == ["model.safetensors", "config.json", "vocab.json", "extra.json", "provenance.json", "README.md"])
    for file in summary.files { #expect(FileManager.default.fileExists(atPath: scratch.file("exported/\(file)").path), "\(file)") }
    #expect(ModelProvenance.read(scratch.file("exported")) == context.provenance)
    let json = try JSONDecoder().decode(ConfigNode.self, from: Data(contentsOf: scratch.file("exported/config.json")))
    let expected: [String: ConfigNode] = [
      "tokenizer.bos_token_id": .int(7), "tokenizer.eos_token_id": .int(8), "tokenizer.name": .string("char/36/sha256:00"),
      "tokenizer.files": .list([.string("vocab.json")]), "data.kind": .string("text"), "data.wrap": .bool(true),
      "data.insert_train_eos": .bool(true), "data.tokenizer_name_or_path": .null,
      "sampling.steps": .int(6), "algo.sampling_mode": .string("efficient-non-uniform"), "training.sampling_eps": .double(1e-5),
      "parameterization.name": .string("partition-sdtt"), "parameterization.distill_mode": .string("kl-bwd"),
      "parameterization.num_distill_steps": .int(2), "parameterization.orig_num_sampling_steps": .int(24),
      "parameterization.min_num_sampling_steps": .int(6), "parameterization.grow_dt_every": .int(100),
      "parameterization.use_ema_on_growth": .bool(false), "parameterization.rounds": .int(2),
    ]
    for (path, value) in expected { #expect(json[path] == value, "\(path)") }
    // Re-exporting an export keeps what its config.json says.
    let again = ExportContext.folder(scratch.file("exported"))
    #expect(again.tokens == context.tokens && again.sampling == context.sampling && again.distillation == context.distillation)
    #expect(again.data == context.data && again.provenance == context.provenance)
    #expect(again.tokenizerFiles.map(\.lastPathComponent) == ["vocab.json"])
    let readme = try String(contentsOf: scratch.file("exported/README.md"), encoding: .utf8)
    #expect(readme.contains("| BOS id | 7 (`tokenizer.bos_token_id`; a test)"))
    #expect(readme.contains("in 6 (`sampling.steps`), the step count it was distilled for"))
    #expect(readme.contains("`extra.json`: a test."))
  }

  @Test func modelCardHasSizesProvenanceLoadingCodeAndCallerSections() throws {
    let scratch = try Scratch("export-card")
    defer { scratch.remove() }
    // A folder written by the importer records where it came from; the card repeats it.
    try ModelImport.run(source: Golden.url("mdlm-tiny/lightning.ckpt"), to: scratch.file("imported"))
    let table = ModelCard.table(header: ["steps", "gen. PPL"], rows: [["32", "61.65"], ["1024", "39.50 | best"]])
    let card = ModelCard(title: "Tiny MDLM", provenance: ["distilled for 0 rounds"],
                         sections: [ModelCard.Section(title: "Trade-off", markdown: table)])
    let summary = try ModelExport.write(modelFolder: scratch.file("imported"), to: scratch.file("exported"), card: card)
    let readme = try String(contentsOf: scratch.file("exported/README.md"), encoding: .utf8)
    let (sha, bytes) = try ModelExport.digest(of: scratch.file("exported/model.safetensors"))
    #expect(summary.weightsSHA256 == sha && sha.count == 64)
    #expect(readme.hasPrefix("# Tiny MDLM\n"))
    #expect(readme.contains("SHA-256 `\(sha)`") && readme.contains(grouped(bytes) + " bytes"))
    #expect(readme.contains("| parameters | 108,293 in 40 tensors, float32 |"))
    #expect(readme.contains("| attention heads | 4 (head size 12) |"))
    #expect(readme.contains("imported by `pgm import` from `\(try Golden.url("mdlm-tiny/lightning.ckpt").path)` (EMA weights)"))
    #expect(readme.contains("- distilled for 0 rounds"))
    #expect(readme.contains("from models.dit import DIT") && readme.contains("load_state_dict"))
    // CPU users are told how to avoid flash-attn, never to install it.
    #expect(readme.contains("Do not install flash-attn on a CPU") && readme.contains("apply_rotary_emb_torch"))
    #expect(!readme.lowercased().contains("pip install flash") && !readme.contains("flash-attn among them"))
    #expect(readme.hasSuffix("## Trade-off\n\n| steps | gen. PPL |\n|---|---|\n| 32 | 61.65 |\n| 1024 | 39.50 \\| best |\n"))
  }

  @Test func theStreamingWriterWritesWhatTheFormatsWriterWrites() throws {
    let scratch = try Scratch("export-stream")
    defer { scratch.remove() }
    var rng = SeededGenerator(seed: 8)
    let layout: [(name: String, shape: [Int])] = [("b", [3, 5]), ("a.\"quoted\"\n", [7]), ("scalar", []), ("empty", [0, 4])]
    let values = layout.map { rng.floats($0.shape.reduce(1, *)) }
    let metadata = ["z": "last", "a": "first \\ \"x\"\u{01}", "format": "pt"]
    let writer = try SafeTensorsStreamWriter(url: scratch.file("s.safetensors"), layout: layout, metadata: metadata)
    for ((name, _), v) in zip(layout, values) { try writer.append(name, v) }
    try writer.finish()
    let reference = try SafeTensors.encode(zip(layout, values).map { (name: $0.name, tensor: try TensorData(floats: $1, shape: $0.shape)) },
                                           metadata: metadata)
    #expect(try [UInt8](Data(contentsOf: scratch.file("s.safetensors"))) == reference)
    #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.url.path) == ["s.safetensors"])
  }

  @Test func networksTheReferenceCannotLoadAreRefusedAndFailedExportsLeaveNoWeights() throws {
    let scratch = try Scratch("export-refuse")
    defer { scratch.remove() }
    let ar = try Network(ModelConfig(kind: .ar, vocabSize: 11, hiddenSize: 8, heads: 2, condDim: 4, length: 6, blocks: 1))
    #expect(throws: ExportError.self) { try ModelExport.write(network: ar, to: scratch.file("ar")) }
    let wide = try Network(ModelConfig(kind: .mdlm, vocabSize: 11, hiddenSize: 8, heads: 2, condDim: 4, length: 6,
                                           mlpRatio: 3, blocks: 1))
    #expect { try ModelExport.write(network: wide, to: scratch.file("wide")) } throws: {
      let text = String(describing: $0)
      return text.contains("cannot export this MDLM for the PyTorch reference code: its MLP ratio is 3")
        && text.contains("ignores model.mlp_ratio") && text.contains("[24, 8]") && text.contains("[32, 8]")
    }
    // Nothing is written for a network the reference cannot load.
    #expect(!FileManager.default.fileExists(atPath: scratch.file("wide").path))
    // A partition network reads mlp_ratio, so it exports with any ratio.
    let partition = try Network(ModelConfig(kind: .pgm, vocabSize: 11, hiddenSize: 8, heads: 2, condDim: 4, length: 6,
                                            mlpRatio: 3, encoderBlocks: 1, decoderBlocks: 1))
    try ModelExport.write(network: partition, to: scratch.file("partition"))
    let broken = try Network(ModelConfig(kind: .mdlm, vocabSize: 11, hiddenSize: 8, heads: 2, condDim: 4, length: 6, blocks: 1))
    var values = broken.parameters["blocks.0.mlp.0.bias"]!.toArray()
    values[3] = .nan
    broken.parameters.assign("blocks.0.mlp.0.bias", values)
    #expect { try ModelExport.write(network: broken, to: scratch.file("broken")) } throws: {
      guard case .nonFinite(_, let name, let index, _)? = $0 as? ImportError else { return false }
      return name == "blocks.0.mlp.0.bias" && index == 3
    }
    #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.file("broken").path).isEmpty)
  }
}
