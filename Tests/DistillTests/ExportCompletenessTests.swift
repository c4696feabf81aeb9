import Checkpoints
import Corpus
import Distill
import Engine
import Formats
import Foundation
import Networks
import Teacher
import Testing
import Tokenizers

/// The value at a dotted path of a parsed JSON object (NSNull for a JSON null), nil when absent.
private func value(_ json: Any, _ path: String) -> Any? {
  var node: Any? = json
  for key in path.split(separator: ".") { node = (node as? [String: Any])?[String(key)] }
  return node
}

private func readJSON(_ url: URL) throws -> Any { try JSONSerialization.jsonObject(with: Data(contentsOf: url)) }

/// Whether a parsed JSON value equals a Swift literal (Bool, Int, Double or String).
private func matches(_ got: Any?, _ want: Any) -> Bool {
  switch want {
  case let w as Bool: return (got as? Bool) == w
  case let w as Int: return (got as? Int) == w
  case let w as Double: return (got as? Double).map { abs($0 - w) <= 1e-15 * abs(w) } == true
  case let w as String: return (got as? String) == w
  default: return false
  }
}

/// An export is complete when a PyTorch user needs nothing else: names and shapes, the nested
/// reference configuration with loss and sampler settings, the ids, the tokenizer or the Markov
/// source, provenance, a card without flash-attn installs — and `pgm eval` works on it alone.
@Suite(.serialized) struct ExportCompletenessTests {
  @Test func aDistilledStudentsExportHasEverythingAReferenceUserNeedsAndEvaluatesAlone() throws {
    if ProcessInfo.processInfo.environment["PGM_DISTILL_CHILD_RUN"] != nil { return }
    let dir = scratchDirectory("export-complete")
    defer { try? FileManager.default.removeItem(at: dir) }
    let summary = try runTiny(dir)
    let run = dir.appendingPathComponent("run")
    let source = try TokenDataset(path: run.appendingPathComponent("data/tokens.h5").path).markovSource()
    let student = try ModelFolder.load(run.appendingPathComponent("round-2/student/model"))

    // The export alone: moved to a fresh folder, the run folder (data, teacher, report) deleted.
    let alone = dir.appendingPathComponent("elsewhere/student")
    try FileManager.default.createDirectory(at: alone.deletingLastPathComponent(), withIntermediateDirectories: true)
    try FileManager.default.moveItem(at: URL(fileURLWithPath: try #require(summary.exportPath)), to: alone)
    try FileManager.default.removeItem(at: run)
    let files = try Set(FileManager.default.contentsOfDirectory(atPath: alone.path))
    #expect(files == ["model.safetensors", "config.json", "provenance.json", "markov_source.json", "README.md"])

    // Tensors: every parameter under the reference's name and shape, plus the rotary buffer.
    let weights = try SafeTensorsFile(url: alone.appendingPathComponent("model.safetensors"))
    let expectedShapes = Dictionary(uniqueKeysWithValues: student.parameters.shapes.map { ($0.name, $0.shape) })
      .merging(["rotary_emb.inv_freq": [4]]) { a, _ in a }
    #expect(Dictionary(uniqueKeysWithValues: weights.entries.map { ($0.name, $0.shape) }) == expectedShapes)
    #expect(weights.entries.prefix(3).map(\.name) == ["vocab_embed.embedding", "sigma_map.mlp.0.weight", "sigma_map.mlp.0.bias"])
    #expect(weights.entries.allSatisfy { $0.dtype == .f32 })

    // config.json: the reference's nested sections, complete for its network, loss and sampler.
    let json = try readJSON(alone.appendingPathComponent("config.json"))
    let expected: [String: Any] = [
      "model.type": "encoder-decoder", "model.hidden_size": 16, "model.n_heads": 2, "model.cond_dim": 8, "model.length": 16,
      "model.mlp_ratio": 4, "model.encoder.n_blocks": 1, "model.decoder.n_blocks": 1, "model.decoder.mode": "cross-only",
      "model.swap.pre_query_mode": "learn+freqs", "model.swap.query_process_mode": "linear", "model.swap.normalize_mode": "layernorm",
      "algo.name": "partition-mdlm", "algo.backbone": "encoder-decoder", "algo.parameterization": "subs", "algo.T": 0,
      "algo.loss_type": "elbo", "algo.sampling_mode": "efficient-uniform", "algo.causal_attention": false,
      "algo.time_conditioning": false, "algo.subs_masking": false, "algo.ignore_bos": false,
      "noise.type": "log-linear", "noise.eps": 0.001,
      "sampling.steps": 4, "sampling.eps": 1e-5, "sampling.inject_bos": true, "training.sampling_eps": 1e-5,
      "parameterization.name": "partition-sdtt", "parameterization.distill_mode": "kl-bwd",
      "parameterization.num_distill_steps": 2, "parameterization.orig_num_sampling_steps": 16,
      "parameterization.min_num_sampling_steps": 4, "parameterization.grow_dt_every": 6, "parameterization.rounds": 2,
      "parameterization.use_ema_on_growth": false, "parameterization.exported_weights": "ema",
      "data.kind": "synthetic", "data.wrap": false,
      "vocab_size": 12, "T": 0, "time_conditioning": false, "neg_infinity_mode": "true-inf",
      "tokenizer.vocab_size": 11, "tokenizer.mask_token_id": 11, "tokenizer.bos_token_id": 10,
      "tokenizer.bos_token_id_source": "the bos_id attribute of the training data",
    ]
    for (path, want) in expected {
      #expect(matches(value(json, path), want), "\(path): \(String(describing: value(json, path)))")
    }
    #expect(value(json, "tokenizer.eos_token_id") is NSNull)
    #expect((value(json, "tokenizer.files") as? [Any])?.isEmpty == true)
    #expect((value(json, "parameter_order") as? [String]) == student.parameters.names)
    #expect(value(json, "kind") == nil && value(json, "reference_config") == nil)
    #expect(try ModelFolder.readConfig(alone.appendingPathComponent("config.json")) == student.config)

    // The Markov source, exactly; provenance kept (its paths now point nowhere).
    #expect(try MarkovSourceJSON.read(alone.appendingPathComponent("markov_source.json")) == source)
    let provenance = try #require(ModelProvenance.read(alone))
    // An export inside its run records the run's files relative to itself (moved whole, the run
    // still resolves); copied out alone, those paths point nowhere, as said above.
    #expect(provenance.round == 2 && provenance.weights == .ema && provenance.dataset?.hasSuffix("/data/tokens.h5") == true)
    let recorded = try String(contentsOf: alone.appendingPathComponent("provenance.json"), encoding: .utf8)
    #expect(recorded.contains("\"..\\/data\\/tokens.h5\"") || recorded.contains("\"../data/tokens.h5\""), "\(recorded)")

    // The card: the run's numbers, the ids, a CPU snippet without flash-attn installs.
    let card = try String(contentsOf: alone.appendingPathComponent("README.md"), encoding: .utf8)
    #expect(card.contains("## Trade-offs (this student and its original teacher)") && card.contains("| round 2 | \(SamplerVariant()) | 4 |"))
    #expect(card.contains("| BOS id | 10 (`tokenizer.bos_token_id`") && card.contains("| mask id | 11 = V − 1"))
    #expect(card.contains("Do not install flash-attn on a CPU") && card.contains("```python"))
    #expect(!card.lowercased().contains("pip install flash") && !card.contains("flash-attn among them"))
    #expect(card.contains("2 rounds from a 16-step teacher"))

    // `pgm eval --model EXPORT`, on the folder alone: exact metrics and a validation NLL from the source.
    var log: [String] = []
    let result = try ModelEvaluation.run(model: alone, steps: [4], samples: 8, batch: 8, seed: 3, data: nil, evaluator: nil,
                                         variants: [SamplerVariant()], log: { log.append($0) })
    #expect(result.rows.count == 1 && result.rows[0].steps == 4)
    guard case .markov(let metrics) = result.rows[0].quality else {
      Issue.record("expected exact Markov metrics, got \(result.rows[0].quality)")
      return
    }
    #expect(metrics.forbiddenRate >= 0 && metrics.forbiddenRate <= 1)
    #expect(result.valNLL.map { $0.isFinite && $0 > 0 } == true)
    #expect(result.notes.contains { $0.contains("is not there") })
    #expect(result.notes.contains { $0.contains("markov_source.json") && $0.contains("drawn from the source") })

    // `pgm import` of the export gives back the same network, bit for bit.
    let back = dir.appendingPathComponent("back")
    try ModelImport.run(source: alone, to: back)
    let reimported = try ModelFolder.load(back)
    #expect(reimported.config == student.config)
    #expect(reimported.parameters.tensors.map { $0.toArray() } == student.parameters.tensors.map { $0.toArray() })
  }

  /// A text model exported without its data: the tokenizer travels and gives the ids; `pgm eval`
  /// reports entropy and speed with notes instead of failing.
  @Test func aTextModelExportCarriesItsTokenizerAndEvaluatesWithNotes() throws {
    if ProcessInfo.processInfo.environment["PGM_DISTILL_CHILD_RUN"] != nil { return }
    let dir = scratchDirectory("export-text")
    defer { try? FileManager.default.removeItem(at: dir) }
    let tokenizer = CharTokenizer(corpus: ["to be or not to be"])
    let config = ModelConfig(kind: .pgm, vocabSize: tokenizer.vocabularySizeWithMask, hiddenSize: 8, heads: 2, condDim: 4,
                             length: 8, encoderBlocks: 1, decoderBlocks: 1)
    let model = dir.appendingPathComponent("model")
    try ModelFolder.save(try Network(config, seed: 4), to: model)
    try tokenizer.write(to: model.appendingPathComponent("char-tokenizer.json"))
    try ModelProvenance(dataset: "/nowhere/tokens.h5", evaluator: "/nowhere/evaluator", round: 0, weights: .ema).write(to: model)

    let export = dir.appendingPathComponent("export")
    let summary = try ModelExporting.export(modelFolder: model, to: export)
    #expect(summary.files.contains("char-tokenizer.json") && summary.files.contains("provenance.json"))
    #expect(!summary.files.contains("markov_source.json"))
    let json = try readJSON(export.appendingPathComponent("config.json"))
    #expect(value(json, "tokenizer.bos_token_id") as? Int == Int(tokenizer.bos!))
    #expect(value(json, "tokenizer.eos_token_id") as? Int == Int(tokenizer.eos!))
    #expect(value(json, "tokenizer.name") as? String == tokenizer.identity.description)
    #expect(value(json, "tokenizer.files") as? [String] == ["char-tokenizer.json"])
    #expect(value(json, "tokenizer.bos_token_id_source") as? String == "the tokenizer's end-of-text token")
    #expect(value(json, "sampling.steps") as? Int == 8)
    #expect(value(json, "parameterization") == nil)
    // A character table is this project's own format: nothing the reference's get_tokenizer loads.
    #expect(value(json, "data.tokenizer_name_or_path") is NSNull)
    #expect(!summary.files.contains("tokenizer_config.json"))

    let result = try ModelEvaluation.run(model: export, steps: [2], samples: 4, batch: 4, seed: 1, data: nil, evaluator: nil,
                                         variants: [SamplerVariant()], log: { _ in })
    #expect(result.valNLL == nil && result.rows.count == 1)
    guard case .unmeasured = result.rows[0].quality else {
      Issue.record("expected entropy and speed only, got \(result.rows[0].quality)")
      return
    }
    #expect(result.notes.contains { $0.contains("/nowhere/tokens.h5 is not there") })
    #expect(result.notes.contains { $0.contains("/nowhere/evaluator is not there") })
    #expect(result.notes.contains { $0.contains("entropy and speed only") })
    #expect(result.notes.contains { $0.contains("validation NLL skipped") })
  }

  /// A byte-level BPE travels as tokenizer.json plus a tokenizer_config.json, so that the
  /// reference's `AutoTokenizer.from_pretrained(data.tokenizer_name_or_path)` loads it.
  @Test func aBPEModelExportIsLoadableByTransformersAutoTokenizer() throws {
    if ProcessInfo.processInfo.environment["PGM_DISTILL_CHILD_RUN"] != nil { return }
    let dir = scratchDirectory("export-bpe")
    defer { try? FileManager.default.removeItem(at: dir) }
    let trained = try BPETrainer.train(texts: [String](repeating: "to be or not to be, that is the question", count: 20),
                                       vocabularySize: 270)
    let tokenizer = BPETokenizer(model: trained.model)
    let config = ModelConfig(kind: .mdlm, vocabSize: tokenizer.vocabularySizeWithMask, hiddenSize: 8, heads: 2, condDim: 4,
                             length: 8, blocks: 1)
    let model = dir.appendingPathComponent("model")
    try ModelFolder.save(try Network(config, seed: 5), to: model)
    try HuggingFaceFormat.writeTokenizerJSON(trained.model, to: model.appendingPathComponent("tokenizer.json"))
    let summary = try ModelExporting.export(modelFolder: model, to: dir.appendingPathComponent("export"))
    #expect(summary.files.contains("tokenizer.json") && summary.files.contains("tokenizer_config.json"))
    let json = try readJSON(dir.appendingPathComponent("export/config.json"))
    #expect(value(json, "data.tokenizer_name_or_path") as? String == ".")
    #expect(value(json, "tokenizer.bos_token_id") as? Int == Int(tokenizer.bos!))
    #expect(value(json, "tokenizer.vocab_size") as? Int == tokenizer.vocabularySize)
    let hf = try #require(try readJSON(dir.appendingPathComponent("export/tokenizer_config.json")) as? [String: Any])
    #expect(hf["tokenizer_class"] as? String == "PreTrainedTokenizerFast")
    #expect(hf["bos_token"] as? String == "<|endoftext|>" && hf["eos_token"] as? String == "<|endoftext|>")
    #expect(hf["mask_token"] == nil)
  }
}
