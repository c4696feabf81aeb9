import Engine
import Formats
import Foundation
import Networks

/// Where a run stands: everything besides tensors that an exact resume needs.
public struct TrainingState: Codable, Equatable {
  public var step = 0
  /// Data order: epoch e visits the rows in the permutation drawn from the seed and e.
  public var epoch = 0
  public var cursor = 0
  /// Times, groups and masks.
  public var rng: RandomStream
  public var emaUpdates = 0
  public var adamStep = 0
  public var tokensSeen = 0

  enum CodingKeys: String, CodingKey {
    case step, epoch, cursor, rng, emaUpdates = "ema_updates", adamStep = "adam_step", tokensSeen = "tokens_seen"
  }
}

/// One file, `checkpoint.safetensors`, written atomically (temporary file + rename): the raw
/// weights, the EMA, both Adam moments, and in the metadata the state, the network config and
/// the settings, so that a resume can check it continues the same run.
enum TrainingCheckpoint {
  static let fileName = "checkpoint.safetensors"

  static func save(to url: URL, state: TrainingState, config: ModelConfig, settings: TrainingSettings,
                   parameters: ParameterSet, ema: ParameterSet, adam: AdamW) throws {
    var tensors: [(name: String, tensor: TensorData)] = []
    func add(_ prefix: String, _ set: [Tensor]) throws {
      for (name, t) in zip(parameters.names, set) {
        tensors.append((prefix + name, try TensorData(floats: t.toArray(), shape: t.shape)))
      }
    }
    try add("model.", parameters.tensors)
    try add("ema.", ema.tensors)
    try add("adam_m.", adam.m)
    try add("adam_v.", adam.v)
    let enc = JSONEncoder()
    enc.outputFormatting = [.sortedKeys]
    let metadata = [
      "pgm_checkpoint": "1",
      "state": String(decoding: try enc.encode(state), as: UTF8.self),
      "config": String(decoding: try enc.encode(config), as: UTF8.self),
      "settings": String(decoding: try enc.encode(settings), as: UTF8.self),
    ]
    try SafeTensors.write(tensors, metadata: metadata, to: url)
  }

  struct Loaded {
    let state: TrainingState
    let config: ModelConfig
    let settings: TrainingSettings
    let file: SafeTensorsFile
  }

  static func read(_ url: URL) throws -> Loaded {
    let file = try SafeTensorsFile(url: url)
    try file.verifyChecksum()  // a damaged checkpoint must not resume as other weights or moments
    guard let meta = file.metadata, meta["pgm_checkpoint"] == "1", let s = meta["state"], let c = meta["config"],
          let t = meta["settings"] else {
      throw TrainingError.incompatibleCheckpoint("\(url.path) is not a training checkpoint of this program")
    }
    let dec = JSONDecoder()
    do {
      return Loaded(state: try dec.decode(TrainingState.self, from: Data(s.utf8)),
                    config: try dec.decode(ModelConfig.self, from: Data(c.utf8)),
                    settings: try dec.decode(TrainingSettings.self, from: Data(t.utf8)), file: file)
    } catch {
      throw TrainingError.incompatibleCheckpoint("\(url.path) has unreadable metadata: \(error)")
    }
  }

  /// Loads the tensors of a checkpoint into the live objects (names and shapes checked first).
  static func restore(_ loaded: Loaded, parameters: ParameterSet, ema: ParameterSet, adam: AdamW) throws {
    var expected: [(name: String, shape: [Int])] = []
    for prefix in ["model.", "ema.", "adam_m.", "adam_v."] {
      expected += parameters.shapes.map { (prefix + $0.name, $0.shape) }
    }
    try loaded.file.checkAgainst(expected: expected)
    func values(_ name: String) throws -> [Float] {
      let v = try loaded.file.read(name).floats()
      guard v.allSatisfy(\.isFinite) else {
        throw TrainingError.incompatibleCheckpoint("\(name) in \(loaded.file.fileName) holds non-finite values")
      }
      return v
    }
    var m: [Tensor] = [], v: [Tensor] = []
    for (name, t) in zip(parameters.names, parameters.tensors) {
      parameters.assign(name, try values("model." + name))
      ema.assign(name, try values("ema." + name))
      m.append(Tensor(shape: t.shape, values: try values("adam_m." + name)))
      v.append(Tensor(shape: t.shape, values: try values("adam_v." + name)))
    }
    adam.restore(step: loaded.state.adamStep, m: m, v: v)
  }
}

/// Reading a checkpoint's progress without loading its tensors.
public enum TrainingCheckpointInfo {
  /// The optimizer step a checkpoint was written at.
  public static func step(of url: URL) throws -> Int { try TrainingCheckpoint.read(url).state.step }
}
