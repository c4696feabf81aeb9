import Foundation
import Networks

/// Checks the buffers a reference state dict carries against what this project's network computes
/// on the fly. They are never loaded: a buffer that disagrees means the configuration is wrong
/// (for the rotary frequencies: the head count), and importing anyway would give a network that
/// silently computes something else.
enum BufferCheck {
  /// `rotary_emb.inv_freq` must be 1/10000^(2j/dh), j = 0..<dh/2 (the reference computes it in
  /// float32, hence the tolerance).
  static func rotary(_ values: [Double], config: ModelConfig, file: String) throws {
    let dh = config.headDim
    let name = ParameterNaming.rotaryBuffer
    guard values.count == dh / 2 else {
      throw ImportError.bufferMismatch(file: file, name: name, reason: "has \(values.count) entries, but head size \(dh) "
        + "(hidden size \(config.hiddenSize) / \(config.heads) heads) needs \(dh / 2): the head count is wrong")
    }
    for (j, value) in values.enumerated() {
      let expected = 1 / pow(10000, Double(2 * j) / Double(dh))
      guard value.isFinite, abs(value - expected) <= 1e-5 * expected else {
        throw ImportError.bufferMismatch(file: file, name: name, reason: "entry \(j) is \(value), but 1/10000^(2·\(j)/\(dh)) "
          + "= \(expected) for head size \(dh) (\(config.heads) heads): the head count is wrong or the network uses "
          + "another rotary base, which this project does not implement")
      }
    }
  }

  /// `decoder.group_swap.pos_freqs` [L, D] must be the sinusoidal features of positions 0..<L,
  /// and only exists in the modes that use them.
  static func positions(_ values: [Double], shape: [Int], config: ModelConfig, file: String) throws {
    let name = ParameterNaming.positionBuffer
    guard config.preQueryMode != .learn else {
      throw ImportError.bufferMismatch(file: file, name: name, reason: "is present, but pre-query mode 'learn' uses no "
        + "position features")
    }
    let d = config.hiddenSize
    guard shape.count == 2, shape[1] == d else {
      throw ImportError.bufferMismatch(file: file, name: name, reason: "has shape \(shape), expected [L, \(d)]")
    }
    let half = d / 2
    for p in 0..<shape[0] {
      for i in 0..<half {
        let angle = Double(p) / pow(10000, Double(2 * i) / Double(d))
        for (offset, expected) in [(i, cos(angle)), (half + i, sin(angle))] {
          let value = values[p * d + offset]
          // The reference computes the angles in float32; at position ~1000 that moves them by ~1e-4.
          guard abs(value - expected) <= 1e-3 else {
            throw ImportError.bufferMismatch(file: file, name: name, reason: "element [\(p), \(offset)] is \(value), but the "
              + "sinusoidal position feature is \(expected)")
          }
        }
      }
    }
  }
}
