import TestSupport
import Foundation
import Testing
@testable import Checkpoints
import Formats
import Networks

/// Checkpoints the importer has never seen: other sizes and variants, written in the reference's
/// layouts by the fixtures. Each import must reproduce the stored weights exactly and give a
/// folder that loads and computes with them.
@Suite struct SyntheticImportTests {
  /// Odd sizes, the mean-free modes that differ from the golden ones, an MLP ratio of 2, and
  /// weights stored as BF16, F16 and F64 beside F32.
  static let partition = ModelConfig(kind: .pgm, vocabSize: 29, hiddenSize: 36, heads: 3, condDim: 10, length: 15, mlpRatio: 2,
                                     encoderBlocks: 1, decoderBlocks: 2, preQueryMode: .learnFreqsLogsumexp,
                                     queryProcessMode: .mlp4, dropout: 0.05)
  static let mdlm = ModelConfig(kind: .mdlm, vocabSize: 19, hiddenSize: 24, heads: 2, condDim: 8, length: 10, blocks: 5)
  static let mixedDTypes: [String: DType] = ["vocab_embed.embedding": .bf16, "sigma_map.mlp.0.weight": .f16,
                                             "output_layer.linear.bias": .f64]

  /// Imports, then checks every tensor against `expected` and that the folder loads and computes.
  func expectImport(_ model: SyntheticModel, from source: URL, weights: WeightChoice, options: ImportOptions,
                    into scratch: Scratch) throws -> ImportSummary {
    let out = scratch.url.appendingPathComponent("imported-\(UUID().uuidString.prefix(6))")
    let summary = try ModelImport.run(source: source, to: out, options: options)
    #expect(summary.config == model.config)
    let written = try tensors(of: out.appendingPathComponent("model.safetensors"))
    let expected = try model.expected(weights)
    #expect(Set(written.keys) == Set(expected.keys))
    for (name, bytes) in expected {
      #expect(written[name]?.dtype == .f32)
      #expect(written[name]?.bytes == bytes, "\(name) differs")
    }
    let loaded = try ModelFolder.load(out)
    #expect(loaded.config == model.config)
    let values = try Dictionary(uniqueKeysWithValues: expected.map { name, bytes in
      (name, try TensorData(dtype: .f32, shape: [bytes.count / 4], bytes: bytes).floats())
    })
    let logits = referenceBatchLogits(loaded)
    #expect(!logits.isEmpty && logits.allSatisfy(\.isFinite))
    #expect(logits == referenceBatchLogits(try network(model.config, values: values)))
    return summary
  }

  @Test(arguments: [WeightChoice.raw, .ema])
  func aPartitionNetworkOfOddSizesWithLogsumexpAndMLP4(weights: WeightChoice) throws {
    let scratch = try Scratch("synthetic-pgm")
    defer { scratch.remove() }
    let model = try SyntheticModel(config: Self.partition, seed: 1, rawDTypes: Self.mixedDTypes)
    let ckpt = scratch.file("pgm.ckpt")
    try model.lightning(hyperParameters: model.hyperParameters()).write(to: ckpt)
    let summary = try expectImport(model, from: ckpt, weights: weights, options: ImportOptions(weights: weights), into: scratch)
    #expect(summary.evidence["swap.pre_query_mode"] == "learn+freqs+logsumexp (config.model.swap.pre_query_mode in hyper_parameters)")
    #expect(summary.evidence["swap.query_process_mode"]?.hasPrefix("mlp4 (name decoder.group_swap.query_processor.0.weight") == true)
    #expect(summary.evidence["dropout"] == "0.05 (config.model.dropout in hyper_parameters)")
    if weights == .raw { #expect(summary.sourceDTypes == ["BF16": 1, "F16": 1, "F64": 1, "F32": model.names.count - 3]) }
  }

  @Test(arguments: [WeightChoice.raw, .ema])
  func anMDLMWithFiveBlocksAndOnlyTheGoldenHyperParameters(weights: WeightChoice) throws {
    let scratch = try Scratch("synthetic-mdlm")
    defer { scratch.remove() }
    let model = try SyntheticModel(config: Self.mdlm, seed: 2)
    let ckpt = scratch.file("mdlm.ckpt")
    try model.lightning(hyperParameters: model.hyperParameters(only: ["hidden_size", "n_heads", "cond_dim", "length"]))
      .write(to: ckpt)
    let summary = try expectImport(model, from: ckpt, weights: weights, options: ImportOptions(weights: weights), into: scratch)
    #expect(summary.evidence["n_blocks"] == "5 (names blocks.0…4)")
  }

  @Test func torchCompilePrefixesAndMissingHyperParametersAreHandledWithFlags() throws {
    let scratch = try Scratch("synthetic-compile")
    defer { scratch.remove() }
    // Dropout is not in the (absent) configuration, so the import says 0.1, the default.
    var config = Self.partition
    config.dropout = 0.1
    let model = try SyntheticModel(config: config, seed: 3)
    let ckpt = scratch.file("compiled.ckpt")
    // No hyper-parameters, no rotary buffer: heads, length and the pre-query mode must be given.
    try model.lightning(prefix: "backbone._orig_mod.", hyperParameters: nil, includeRotary: false).write(to: ckpt)
    #expect {
      try ModelImport.run(source: ckpt, to: scratch.file("out"))
    } throws: { error in
      guard case .needsFlag(_, _, let flag, _)? = error as? ImportError else { return false }
      return flag == "--heads N"
    }
    #expect {
      try ModelImport.run(source: ckpt, to: scratch.file("out"), options: ImportOptions(overrides: .init(heads: 3)))
    } throws: { error in
      guard case .needsFlag(_, _, let flag, _)? = error as? ImportError else { return false }
      return flag == "--length L"
    }
    let overrides = ArchitectureOverrides(heads: 3, length: 15, preQueryMode: .learnFreqsLogsumexp)
    var options = ImportOptions(overrides: overrides)
    let summary = try expectImport(model, from: ckpt, weights: .ema, options: options, into: scratch)
    #expect(summary.namePrefix == "backbone._orig_mod.")
    #expect(summary.evidence["n_heads"] == "3 (--heads)")
    options.weights = .raw
    _ = try expectImport(model, from: ckpt, weights: .raw, options: options, into: scratch)
  }

  /// Hugging Face style folders with every supported prefix and config layout.
  @Test(arguments: ["", "backbone.", "backbone.backbone.", "backbone._orig_mod.", "_orig_mod.", "module."])
  func huggingFaceFoldersWithEachPrefix(prefix: String) throws {
    let scratch = try Scratch("synthetic-hf")
    defer { scratch.remove() }
    let model = try SyntheticModel(config: Self.mdlm, seed: 4, rawDTypes: ["blocks.0.attn_qkv.weight": .bf16])
    let c = model.config
    let layouts: [(String, Any)] = [
      // kuleshov-group/mdlm-owt: MDLMConfig.
      ("hf-mdlm", ["model_type": "mdlm", "architectures": ["MDLM"], "hidden_dim": c.hiddenSize, "n_heads": c.heads,
                   "cond_dim": c.condDim, "model_length": c.length, "n_blocks": c.blocks, "vocab_size": c.vocabSize,
                   "dropout": 0.1, "time_conditioning": false, "return_dict": false]),
      // jdeschena/sdtt: the whole Hydra config, as PyTorchModelHubMixin stores it.
      ("sdtt-hydra", ["model": ["name": "small", "type": "ddit-orig", "hidden_size": c.hiddenSize, "cond_dim": c.condDim,
                                "length": c.length, "n_blocks": c.blocks, "n_heads": c.heads, "scale_by_sigma": true,
                                "dropout": 0.1, "tie_word_embeddings": false],
                      "time_conditioning": false, "tokenizer": ["name": "gpt2"],
                      "parameterization": ["name": "multi-round-sdtt", "num_distill_steps": 2],
                      "data_preprocess": ["seq_len": "${model.length}"]]),
    ]
    for (layout, json) in layouts {
      let folder = scratch.url.appendingPathComponent(layout)
      try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
      try Data(try model.safetensors(prefix: prefix)).write(to: folder.appendingPathComponent("model.safetensors"))
      try writeJSON(json, to: folder.appendingPathComponent("config.json"))
      let summary = try expectImport(model, from: folder, weights: .raw, options: ImportOptions(), into: scratch)
      #expect(summary.namePrefix == prefix)
      #expect(summary.weights == "folder")
      #expect(summary.configLayout != nil)
    }
  }

  @Test func aPartitionNetworkFromAnSDTTStyleFolderAndALoneSafetensorsFile() throws {
    let scratch = try Scratch("synthetic-hf-pgm")
    defer { scratch.remove() }
    let model = try SyntheticModel(config: Self.partition, seed: 5)
    let c = model.config
    try Data(try model.safetensors(prefix: "backbone.")).write(to: scratch.file("model.safetensors"))
    try writeJSON(["model": ["type": "encoder-decoder", "hidden_size": c.hiddenSize, "cond_dim": c.condDim, "length": c.length,
                             "n_heads": c.heads, "mlp_ratio": c.mlpRatio, "dropout": 0.05,
                             "encoder": ["n_blocks": c.encoderBlocks],
                             "decoder": ["n_blocks": c.decoderBlocks, "mode": "cross-only", "self_attn_first": false],
                             "swap": ["pre_query_mode": c.preQueryMode.rawValue, "query_process_mode": "mlp4",
                                      "normalize_mode": "layernorm"]],
                   "parameterization": ["name": "partition-sdtt"], "time_conditioning": false],
                  to: scratch.file("config.json"))
    _ = try expectImport(model, from: scratch.url, weights: .raw, options: ImportOptions(), into: scratch)
    // The same weights named as a file: config.json beside it is still read.
    _ = try expectImport(model, from: scratch.file("model.safetensors"), weights: .raw, options: ImportOptions(), into: scratch)
  }
}
