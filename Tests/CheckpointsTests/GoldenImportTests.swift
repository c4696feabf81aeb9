import Foundation
import Testing
import TestSupport
@testable import Checkpoints
import Formats
import Networks

/// The Lightning checkpoints produced by the public PyTorch code: importing them must reproduce
/// the golden weights bit for bit (the parity tests show those weights give the reference's
/// outputs) and the golden configuration.
@Suite struct GoldenImportTests {
  /// The golden pgm-tiny checkpoint's hyper-parameters lack `model.swap`, so the pre-query mode
  /// (which no parameter reveals) is given as a flag, as a user would.
  static func options(_ folder: String, _ weights: WeightChoice?) -> ImportOptions {
    ImportOptions(weights: weights, overrides: ArchitectureOverrides(preQueryMode: folder == "pgm-tiny" ? .learnFreqs : nil))
  }

  func expectSameTensors(_ imported: URL, _ golden: URL) throws {
    let ours = try tensors(of: imported), theirs = try tensors(of: golden)
    #expect(Set(ours.keys) == Set(theirs.keys))
    for (name, tensor) in theirs {
      #expect(tensor.dtype == .f32)
      #expect(ours[name]?.shape == tensor.shape, "\(name)")
      #expect(ours[name]?.bytes == tensor.bytes, "\(name) differs")
    }
  }

  @Test(arguments: ["pgm-tiny", "mdlm-tiny"])
  func rawWeightsReproduceTheGoldenWeightsAndConfig(folder: String) throws {
    let scratch = try Scratch("golden-raw")
    defer { scratch.remove() }
    let summary = try ModelImport.run(source: Golden.url("\(folder)/lightning.ckpt"), to: scratch.url,
                                      options: Self.options(folder, .raw))
    try expectSameTensors(scratch.file("model.safetensors"), Golden.url("\(folder)/weights.safetensors"))
    let goldenConfig = try ModelFolder.readConfig(Golden.url("\(folder)/config.json"))
    #expect(summary.config == goldenConfig)
    #expect(try ModelFolder.readConfig(scratch.file("config.json")) == goldenConfig)
    #expect(summary.weights == "raw" && summary.namePrefix == "backbone.")
    #expect(summary.buffersChecked.first?.hasPrefix("rotary_emb.inv_freq") == true)
    // The registration order is the reference's (what the EMA list relies on).
    let goldenOrder = try JSONDecoder().decode([String: ConfigNode].self, from: Data(contentsOf: Golden.url("\(folder)/config.json")))["parameter_order"]
    #expect(goldenOrder == .list(try SafeTensorsFile(url: scratch.file("model.safetensors")).names.map { .string($0) }))
  }

  @Test(arguments: ["pgm-tiny", "mdlm-tiny"])
  func emaWeightsReproduceTheGoldenEMAWeights(folder: String) throws {
    let scratch = try Scratch("golden-ema")
    defer { scratch.remove() }
    let summary = try ModelImport.run(source: Golden.url("\(folder)/lightning.ckpt"), to: scratch.url,
                                      options: Self.options(folder, nil))
    #expect(summary.weights == "ema")
    #expect(summary.emaNumUpdates != nil)
    try expectSameTensors(scratch.file("model.safetensors"), Golden.url("\(folder)/lightning_ema_weights.safetensors"))
    #expect(try ModelFolder.readConfig(scratch.file("config.json")) == ModelFolder.readConfig(Golden.url("\(folder)/config.json")))
    // The EMA differs from the raw weights, so picking one for the other could not pass.
    #expect(try tensors(of: Golden.url("\(folder)/weights.safetensors"))["vocab_embed.embedding"]
      != tensors(of: scratch.file("model.safetensors"))["vocab_embed.embedding"])
  }

  @Test func theGoldenPartitionCheckpointNeedsThePreQueryModeBecauseNoShapeRevealsIt() throws {
    let scratch = try Scratch("golden-flag")
    defer { scratch.remove() }
    #expect {
      try ModelImport.run(source: Golden.url("pgm-tiny/lightning.ckpt"), to: scratch.url)
    } throws: { error in
      guard case .needsFlag(_, let what, let flag, _)? = error as? ImportError else { return false }
      return what.contains("pre-query mode") && flag.hasPrefix("--pre-query-mode")
    }
    #expect(!FileManager.default.fileExists(atPath: scratch.file("model.safetensors").path))
  }

  @Test func theSummaryExplainsWhereEachValueComesFrom() throws {
    let scratch = try Scratch("golden-summary")
    defer { scratch.remove() }
    let summary = try ModelImport.run(source: Golden.url("mdlm-tiny/lightning.ckpt"), to: scratch.url)
    #expect(summary.evidence["n_heads"]?.contains("rotary_emb.inv_freq") == true)
    #expect(summary.evidence["n_heads"]?.contains("config.model.n_heads in hyper_parameters") == true)
    #expect(summary.evidence["length"] == "24 (config.model.length in hyper_parameters)")
    #expect(summary.text.contains("EMA weights"))
    #expect(summary.text.contains("108,293"))
    #expect(summary.parameterCount == 108_293)
  }
}
