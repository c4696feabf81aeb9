import Foundation
import Testing
import TestSupport
@testable import Formats

/// The Lightning checkpoints of the reference code, compared with the safetensors exports of the
/// same weights.
@Suite struct TorchCheckpointGoldenTests {
  static let folders = ["pgm-tiny", "mdlm-tiny"]

  func parameterOrder(_ folder: String) throws -> [String] {
    let data = try Data(contentsOf: try Golden.url("\(folder)/config.json"))
    let config = try JSONSerialization.jsonObject(with: data) as? [String: Any]
    return try #require(config?["parameter_order"] as? [String])
  }

  @Test(arguments: folders)
  func stateDictEqualsTheWeightsFile(folder: String) throws {
    let checkpoint = try TorchCheckpoint(url: try Golden.url("\(folder)/lightning.ckpt"))
    let weights = try SafeTensorsFile(url: try Golden.url("\(folder)/weights.safetensors"))
    #expect(checkpoint.archiveName == "lightning")

    let stateDict = try #require(checkpoint["state_dict"]?.dictValue)
    #expect(stateDict.isOrdered, "state_dict should be an OrderedDict")
    let expectedNames = weights.names.map { "backbone." + $0 } + ["backbone.rotary_emb.inv_freq"]
    #expect(Set(stateDict.stringKeys) == Set(expectedNames))
    #expect(stateDict.entries.count == expectedNames.count)

    let tensors = try checkpoint.readTensors(in: .dict(stateDict))
    #expect(tensors.count == expectedNames.count)
    for (name, tensor) in tensors where name != "backbone.rotary_emb.inv_freq" {
      let expected = try weights.read(String(name.dropFirst("backbone.".count)))
      #expect(tensor == expected, "\(name)")
    }
    // The rotary buffer: 1 / 10000^(2i / head_dim) with head_dim = 48 / 4.
    let invFreq = try #require(tensors.first { $0.name == "backbone.rotary_emb.inv_freq" }?.tensor)
    #expect(invFreq.shape == [6])
    let expected = (0..<6).map { Float(1 / pow(10000.0, Double(2 * $0) / 12)) }
    for (a, b) in zip(try invFreq.floats(), expected) { #expect(abs(a - b) <= 1e-6 * max(1, abs(b))) }
  }

  @Test(arguments: folders)
  func emaShadowParamsEqualTheEMAWeightsInParameterOrder(folder: String) throws {
    let checkpoint = try TorchCheckpoint(url: try Golden.url("\(folder)/lightning.ckpt"))
    let emaWeights = try SafeTensorsFile(url: try Golden.url("\(folder)/lightning_ema_weights.safetensors"))
    let order = try parameterOrder(folder)

    let ema = try #require(checkpoint["ema"])
    #expect(ema["decay"] == .float(0.9999))
    #expect(ema["num_updates"]?.intValue == 1000)
    guard case .list(let shadow)? = ema["shadow_params"] else {
      Issue.record("ema.shadow_params is not a list")
      return
    }
    #expect(shadow.count == order.count)
    let refs = shadow.compactMap(\.tensorValue)
    #expect(refs.count == order.count)
    // Views into one shared storage at increasing offsets.
    #expect(Set(refs.map(\.storageKey)).count == 1)
    #expect(refs.map(\.storageOffset) == refs.map(\.storageOffset).sorted())
    #expect(refs.first?.storageOffset == 0 && (refs.last?.storageOffset ?? 0) > 0)
    for (name, ref) in zip(order, refs) {
      #expect(try checkpoint.read(ref) == emaWeights.read(name), "\(name)")
    }
    // EMA weights differ from the live ones (so the test above could tell them apart).
    let live = try SafeTensorsFile(url: try Golden.url("\(folder)/weights.safetensors"))
    #expect(try checkpoint.read(refs[0]) != live.read(order[0]))
  }

  @Test(arguments: folders)
  func hyperParametersKeepTheOmegaConfContents(folder: String) throws {
    let checkpoint = try TorchCheckpoint(url: try Golden.url("\(folder)/lightning.ckpt"))
    let hyper = try #require(checkpoint["hyper_parameters"])
    #expect(hyper["vocab_size"]?.intValue == 37)
    let config = try #require(hyper["config"]?.objectValue)
    #expect(config.className == "omegaconf.dictconfig.DictConfig")
    // Inspectable as the placeholder stores it...
    let hidden = try #require(hyper["config"]?["_content"]?["model"]?["_content"]?["hidden_size"])
    #expect(hidden.objectValue?.className == "omegaconf.nodes.AnyNode")
    #expect(hidden["_val"]?.intValue == 48)
    // ...with the child's back-reference to its parent cut ...
    #expect(hyper["config"]?["_content"]?["model"]?["_parent"] == .cycle)
    // ...and unwrapped into plain values.
    let plain = try #require(hyper["config"]?.omegaConfContents)
    #expect(plain["model"]?["hidden_size"] == .int(48))
    #expect(plain["model"]?["n_heads"] == .int(4))
  }

  @Test func otherEntriesOfTheLightningCheckpoint() throws {
    let checkpoint = try TorchCheckpoint(url: try Golden.url("pgm-tiny/lightning.ckpt"))
    #expect(checkpoint["epoch"] == .int(3))
    #expect(checkpoint["global_step"] == .int(1000))
    #expect(checkpoint["pytorch-lightning_version"] == .string("2.5.1"))
    // Adam state: one entry per parameter, moments shaped like the parameter.
    let state = try #require(checkpoint["optimizer_states"]?[0]?["state"]?.dictValue)
    #expect(state.entries.count == 63)
    let first = try #require(state.entries.first?.value)
    let step = try checkpoint.read(try #require(first["step"]?.tensorValue))
    #expect(step.shape == [] && step.elementCount == 1)
    #expect(first["exp_avg"]?.tensorValue?.shape == [37, 48])
    #expect(checkpoint["optimizer_states"]?[0]?["param_groups"]?[0]?["betas"] == .tuple([.float(0.9), .float(0.999)]))
    try checkpoint.verifyChecksums()
    // Every tensor anywhere in the file can be read.
    for ref in allTensors(in: checkpoint.root) {
      #expect(try checkpoint.read(ref).shape == ref.shape)
    }
  }
}
