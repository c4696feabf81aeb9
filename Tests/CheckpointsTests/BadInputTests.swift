import TestSupport
import Foundation
import Testing
@testable import Checkpoints
import Formats
import Networks

/// Every way a checkpoint can be wrong ends in one error that says what is wrong and what to do,
/// and leaves no output behind.
@Suite struct BadInputTests {
  static let config = ModelConfig(kind: .mdlm, vocabSize: 19, hiddenSize: 24, heads: 2, condDim: 8, length: 10, blocks: 3)

  /// Runs an import that must fail; returns the error and checks nothing was written.
  func failure(_ source: URL, _ options: ImportOptions = ImportOptions(), scratch: Scratch) -> Error? {
    let out = scratch.url.appendingPathComponent("out-\(UUID().uuidString.prefix(6))")
    var caught: Error?
    do { try ModelImport.run(source: source, to: out, options: options) } catch { caught = error }
    #expect(caught != nil, "the import should have failed")
    let left = (try? FileManager.default.contentsOfDirectory(atPath: out.path)) ?? []
    #expect(left.isEmpty, "a failed import left \(left)")
    return caught
  }

  func checkpoint(_ fixture: LightningFixture, _ scratch: Scratch) throws -> URL {
    let url = scratch.file("bad-\(UUID().uuidString.prefix(6)).ckpt")
    try fixture.write(to: url)
    return url
  }

  @Test func aMissingFileIsNamed() throws {
    let scratch = try Scratch("bad-missing")
    defer { scratch.remove() }
    let error = failure(scratch.file("nowhere.ckpt"), scratch: scratch)
    #expect(error as? ImportError == .notFound(path: scratch.file("nowhere.ckpt").path, what: "the checkpoint"))
    #expect(String(describing: error!).hasPrefix("the checkpoint not found: "))
  }

  @Test func aFileThatIsNotACheckpointSaysWhatWasExpected() throws {
    let scratch = try Scratch("bad-notzip")
    defer { scratch.remove() }
    try Data("hello".utf8).write(to: scratch.file("notes.ckpt"))
    let error = failure(scratch.file("notes.ckpt"), scratch: scratch)
    guard case .unrecognisedSource(_, let reason)? = error as? ImportError else { Issue.record("\(String(describing: error))"); return }
    #expect(reason.contains("PyTorch Lightning checkpoint"))
  }

  @Test func aCheckpointWithoutStateDictListsItsKeys() throws {
    let scratch = try Scratch("bad-nostate")
    defer { scratch.remove() }
    var fixture = try SyntheticModel(config: Self.config, seed: 1).lightning(hyperParameters: nil)
    fixture.omitStateDict = true
    let error = failure(try checkpoint(fixture, scratch), scratch: scratch)
    guard case .missingEntry(_, "state_dict", let found)? = error as? ImportError else { Issue.record("\(String(describing: error))"); return }
    #expect(found.contains("ema") && found.contains("epoch"))
    #expect(String(describing: error!).contains("no 'state_dict' entry"))
  }

  @Test func shapeMismatchesListEveryOffendingName() throws {
    let scratch = try Scratch("bad-shapes")
    defer { scratch.remove() }
    let model = try SyntheticModel(config: Self.config, seed: 2)
    var fixture = model.lightning(hyperParameters: model.hyperParameters())
    fixture.stateDict = fixture.stateDict.compactMap { name, spec in
      switch name {
      case "backbone.blocks.2.norm2.weight": return nil
      case "backbone.blocks.1.attn_out.weight": return (name, TensorSpec(shape: [24, 25], values: [Float](repeating: 0, count: 600)))
      case "backbone.output_layer.linear.bias": return (name, TensorSpec(shape: [18], values: [Float](repeating: 0, count: 18)))
      default: return (name, spec)
      }
    } + [("backbone.blocks.0.extra.weight", TensorSpec(shape: [2], values: [1, 2]))]
    let error = failure(try checkpoint(fixture, scratch), ImportOptions(weights: .raw), scratch: scratch)
    guard let mismatch = error as? WeightMismatch else { Issue.record("\(String(describing: error))"); return }
    #expect(mismatch.missing == ["blocks.2.norm2.weight"])
    #expect(mismatch.unexpected == ["blocks.0.extra.weight"])
    #expect(Set(mismatch.wrongShapes.map(\.name)) == ["blocks.1.attn_out.weight", "output_layer.linear.bias"])
    let text = mismatch.description
    for line in ["missing:     blocks.2.norm2.weight", "unexpected:  blocks.0.extra.weight",
                 "wrong shape: blocks.1.attn_out.weight: expected [24, 24], found [24, 25]",
                 "wrong shape: output_layer.linear.bias: expected [19], found [18]"] {
      #expect(text.contains(line), "\(line)")
    }
  }

  @Test func aWrongLengthEMAListIsRefusedWithBothCounts() throws {
    let scratch = try Scratch("bad-ema-length")
    defer { scratch.remove() }
    let model = try SyntheticModel(config: Self.config, seed: 3)
    var fixture = model.lightning(hyperParameters: model.hyperParameters())
    fixture.ema!.removeLast()
    let error = failure(try checkpoint(fixture, scratch), scratch: scratch)
    #expect(error as? ImportError == .emaLengthMismatch(file: (error as? ImportError).map(file(of:)) ?? "",
                                                        found: model.names.count - 1, expected: model.names.count))
    #expect(String(describing: error!).contains("--weights raw"))
  }

  @Test func anEMAListInAnotherOrderIsRefusedPositionByPosition() throws {
    let scratch = try Scratch("bad-ema-order")
    defer { scratch.remove() }
    let model = try SyntheticModel(config: Self.config, seed: 4)
    var fixture = model.lightning(hyperParameters: model.hyperParameters())
    fixture.ema!.swapAt(0, 1)  // vocab_embed.embedding [19, 24] and sigma_map.mlp.0.weight [8, 256]
    let error = failure(try checkpoint(fixture, scratch), scratch: scratch)
    guard case .emaShapeMismatch(_, let mismatches)? = error as? ImportError else { Issue.record("\(String(describing: error))"); return }
    #expect(mismatches.count == 2)
    #expect(mismatches[0] == "ema.shadow_params[0] has shape [8, 256], but parameter 0 (vocab_embed.embedding) is [19, 24]")
  }

  @Test func missingEMAsuggestsRawWeights() throws {
    let scratch = try Scratch("bad-no-ema")
    defer { scratch.remove() }
    let model = try SyntheticModel(config: Self.config, seed: 5)
    var fixture = model.lightning(hyperParameters: model.hyperParameters())
    fixture.ema = nil
    let url = try checkpoint(fixture, scratch)
    let error = failure(url, scratch: scratch)
    guard case .emaUnavailable(_, let reason)? = error as? ImportError else { Issue.record("\(String(describing: error))"); return }
    #expect(reason.contains("no 'ema' entry"))
    #expect(String(describing: error!).contains("pass --weights raw"))
    fixture.emaOverride = PyValue.none
    #expect(failure(try checkpoint(fixture, scratch), scratch: scratch).map { "\($0)" }?.contains("'ema' is None") == true)
    // And with --weights raw the same file imports.
    try ModelImport.run(source: url, to: scratch.file("raw"), options: ImportOptions(weights: .raw))
  }

  @Test func nonFiniteWeightsAreRefusedWithNameAndPosition() throws {
    let scratch = try Scratch("bad-nan")
    defer { scratch.remove() }
    let model = try SyntheticModel(config: Self.config, seed: 6)
    var fixture = model.lightning(hyperParameters: model.hyperParameters())
    let index = fixture.stateDict.firstIndex { $0.name == "backbone.blocks.1.mlp.2.bias" }!
    fixture.stateDict[index].tensor.values[5] = .nan
    fixture.ema![3].values[2] = -.infinity
    let url = try checkpoint(fixture, scratch)
    guard case .nonFinite(_, let name, let at, _)? = failure(url, ImportOptions(weights: .raw), scratch: scratch) as? ImportError else {
      Issue.record("no non-finite error"); return
    }
    #expect(name == "backbone.blocks.1.mlp.2.bias (blocks.1.mlp.2.bias)" && at == 5)
    guard case .nonFinite(_, let emaName, let emaAt, let value)? = failure(url, scratch: scratch) as? ImportError else {
      Issue.record("no non-finite error"); return
    }
    #expect(emaName == "ema.shadow_params[3] (sigma_map.mlp.2.weight)" && emaAt == 2 && value == -.infinity)
    // F64 values beyond float32's range are refused rather than turned into infinities.
    let overflowIndex = fixture.stateDict.firstIndex { $0.name == "backbone.blocks.0.mlp.0.bias" }!
    fixture.stateDict[index].tensor.values[5] = 0
    var wide = fixture.stateDict[overflowIndex].tensor.values.map(Double.init)
    wide[4] = 1e300
    fixture.stateDict[overflowIndex].tensor.dtype = .f64
    fixture.stateDict[overflowIndex].tensor.wideValues = wide
    let overflow = failure(try checkpoint(fixture, scratch), ImportOptions(weights: .raw), scratch: scratch)
    #expect(overflow.map { "\($0)" }?.contains("holds 1e+300 at element 4, which does not fit in float32") == true)
  }

  @Test func hyperParametersThatContradictTheShapesAreListedTogether() throws {
    let scratch = try Scratch("bad-inconsistent")
    defer { scratch.remove() }
    let model = try SyntheticModel(config: Self.config, seed: 7)
    var wrong = Self.config
    wrong.hiddenSize = 32
    wrong.blocks = 4
    let liar = try SyntheticModel(config: wrong, seed: 7)
    let fixture = model.lightning(hyperParameters: liar.hyperParameters())
    let error = failure(try checkpoint(fixture, scratch), scratch: scratch)
    guard case .inconsistent(_, let conflicts)? = error as? ImportError else { Issue.record("\(String(describing: error))"); return }
    #expect(conflicts == [
      "hidden_size: 24 (vocab_embed.embedding [19, 24]) vs 32 (config.model.hidden_size in hyper_parameters)",
      "n_blocks: 3 (names blocks.0…2) vs 4 (config.model.n_blocks in hyper_parameters)",
    ])
  }

  @Test func aHeadCountThatContradictsTheRotaryBufferIsRefused() throws {
    let scratch = try Scratch("bad-heads")
    defer { scratch.remove() }
    let model = try SyntheticModel(config: Self.config, seed: 8)
    var fixture = model.lightning(hyperParameters: nil)
    let url = try checkpoint(fixture, scratch)
    let options = ImportOptions(overrides: ArchitectureOverrides(heads: 4, length: 10))
    guard case .inconsistent(_, let conflicts)? = failure(url, options, scratch: scratch) as? ImportError else {
      Issue.record("no conflict"); return
    }
    #expect(conflicts == ["n_heads: 4 (--heads) vs 2 (rotary_emb.inv_freq [6]: head size 12)"])
    // A rotary buffer of the right length but another base.
    let index = fixture.stateDict.firstIndex { $0.name == "backbone.rotary_emb.inv_freq" }!
    fixture.stateDict[index].tensor.values = (0..<6).map { 1 / powf(500_000, Float(2 * $0) / 12) }
    let other = failure(try checkpoint(fixture, scratch), ImportOptions(overrides: ArchitectureOverrides(length: 10)), scratch: scratch)
    guard case .bufferMismatch(_, "rotary_emb.inv_freq", let reason)? = other as? ImportError else { Issue.record("\(String(describing: other))"); return }
    #expect(reason.contains("head count is wrong"))
  }

  @Test func unknownPrefixesListEveryName() throws {
    let scratch = try Scratch("bad-prefix")
    defer { scratch.remove() }
    let model = try SyntheticModel(config: Self.config, seed: 9)
    try Data(try model.safetensors(prefix: "model.")).write(to: scratch.file("model.safetensors"))
    let error = failure(scratch.url, scratch: scratch)
    guard case .unknownNames(_, let names, let prefixes)? = error as? ImportError else { Issue.record("\(String(describing: error))"); return }
    #expect(names.count == model.names.count + 1 && names.allSatisfy { $0.hasPrefix("model.") })
    #expect(prefixes.contains("backbone.backbone."))
    let text = String(describing: error!)
    #expect(text.contains("model.vocab_embed.embedding") && text.contains("supported prefixes: none, 'backbone.'"))
    // One stray name among good ones is singled out.
    var fixture = model.lightning(hyperParameters: nil)
    fixture.stateDict.append(("teacher.blocks.0.norm1.weight", TensorSpec(shape: [24], values: [Float](repeating: 1, count: 24))))
    guard case .unknownNames(_, let stray, _)? = failure(try checkpoint(fixture, scratch), scratch: scratch) as? ImportError else {
      Issue.record("no unknown-name error"); return
    }
    #expect(stray == ["teacher.blocks.0.norm1.weight"])
  }

  @Test func foldersWithoutWeightsOrWithUnknownConfigsAreExplained() throws {
    let scratch = try Scratch("bad-folder")
    defer { scratch.remove() }
    #expect(failure(scratch.url, scratch: scratch).map { "\($0)" }?.contains("model.safetensors") == true)
    let model = try SyntheticModel(config: Self.config, seed: 10)
    try Data(try model.safetensors(prefix: "backbone.")).write(to: scratch.file("model.safetensors"))
    try writeJSON(["architectures": ["Something"], "d_model": 24], to: scratch.file("config.json"))
    #expect(failure(scratch.url, scratch: scratch).map { "\($0)" }?.contains("its keys: architectures, d_model") == true)
    try writeJSON(["model": ["hidden_size": 24, "n_heads": 2, "length": "${data.seq_len}", "n_blocks": 3]], to: scratch.file("config.json"))
    guard case .invalidHyperParameter(_, let path, let found)? = failure(scratch.url, scratch: scratch) as? ImportError else {
      Issue.record("no invalid hyper-parameter error"); return
    }
    #expect(path == "model.length in config.json" && found.contains("${data.seq_len}"))
    try writeJSON(["model_type": "mdlm", "hidden_dim": 24, "n_heads": 2, "model_length": 10, "n_blocks": 3, "cond_dim": 8,
                   "time_conditioning": true], to: scratch.file("config.json"))
    #expect(failure(scratch.url, scratch: scratch).map { "\($0)" }?.contains("time-conditioned") == true)
    try writeJSON(["model_type": "mdlm", "hidden_dim": 24, "n_heads": 2, "model_length": 10, "n_blocks": 3], to: scratch.file("config.json"))
    #expect(failure(scratch.url, ImportOptions(weights: .ema), scratch: scratch).map { "\($0)" }?.contains("single set of weights") == true)
  }

  @Test func integerTensorsAreNotWeights() throws {
    let scratch = try Scratch("bad-dtype")
    defer { scratch.remove() }
    let model = try SyntheticModel(config: Self.config, seed: 11, rawDTypes: ["blocks.0.norm1.weight": .i32])
    let error = failure(try checkpoint(model.lightning(hyperParameters: model.hyperParameters()), scratch),
                        ImportOptions(weights: .raw), scratch: scratch)
    #expect(error as? ImportError == .unsupportedDType(file: (error as? ImportError).map(file(of:)) ?? "",
                                                       name: "backbone.blocks.0.norm1.weight (blocks.0.norm1.weight)", dtype: "I32"))
  }
}

/// The file an import error names.
func file(of error: ImportError) -> String {
  switch error {
  case .notFound(let path, _), .unrecognisedSource(let path, _): return path
  case .missingEntry(let f, _, _), .emaUnavailable(let f, _), .emaLengthMismatch(let f, _, _), .emaShapeMismatch(let f, _),
       .unknownNames(let f, _, _), .unrecognisedArchitecture(let f, _), .needsFlag(let f, _, _, _), .inconsistent(let f, _),
       .invalidHyperParameter(let f, _, _), .bufferMismatch(let f, _, _), .nonFinite(let f, _, _, _),
       .unsupportedDType(let f, _, _), .unsupported(let f, _):
    return f
  }
}
