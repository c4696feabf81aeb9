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

  @Test func configHoldsThisProjectsFieldsAndTheReferenceHydraStructure() throws {
    let scratch = try Scratch("export-config")
    defer { scratch.remove() }
    let model = try goldenModelFolder("pgm-tiny", in: scratch)
    try ModelExport.write(modelFolder: model, to: scratch.file("exported"))
    let url = scratch.file("exported/config.json")
    #expect(try ModelFolder.readConfig(url) == ModelFolder.readConfig(Golden.url("pgm-tiny/config.json")))
    let json = try JSONDecoder().decode(ConfigNode.self, from: Data(contentsOf: url))
    let expected: [String: ConfigNode] = [
      "reference_config.model.type": .string("encoder-decoder"), "reference_config.model.hidden_size": .int(48),
      "reference_config.model.cond_dim": .int(16), "reference_config.model.length": .int(24),
      "reference_config.model.n_heads": .int(4), "reference_config.model.mlp_ratio": .int(4),
      "reference_config.model.dropout": .double(0.1), "reference_config.model.encoder.n_blocks": .int(2),
      "reference_config.model.decoder.n_blocks": .int(2), "reference_config.model.decoder.mode": .string("cross-only"),
      "reference_config.model.swap.pre_query_mode": .string("learn+freqs"),
      "reference_config.model.swap.query_process_mode": .string("linear"),
      "reference_config.model.swap.normalize_mode": .string("layernorm"),
      "reference_config.algo.causal_attention": .bool(false), "reference_config.algo.name": .string("partition-mdlm"),
      "reference_config.vocab_size": .int(37), "kind": .string("pgm"), "mask_index": .int(36),
    ]
    for (path, value) in expected { #expect(json[path] == value, "\(path)") }
    let goldenOrder = try JSONDecoder().decode(ConfigNode.self, from: Data(contentsOf: Golden.url("pgm-tiny/config.json")))["parameter_order"]
    #expect(json["parameter_order"] == goldenOrder)
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
    #expect(throws: ImportError.self) { try ModelExport.write(network: ar, to: scratch.file("ar")) }
    let wide = try Network(ModelConfig(kind: .mdlm, vocabSize: 11, hiddenSize: 8, heads: 2, condDim: 4, length: 6,
                                           mlpRatio: 3, blocks: 1))
    #expect { try ModelExport.write(network: wide, to: scratch.file("wide")) } throws: {
      String(describing: $0).contains("MLP ratio at 4")
    }
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
