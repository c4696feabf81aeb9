import Foundation

/// How log p(x0) is normalised over the vocabulary once the mask column is removed (SPEC §6).
public enum MaskNormalization: String, Codable, Sendable, CaseIterable {
  /// s_v = z_v − log Σ_{u≠mask} e^{z_u}: a distribution over the real tokens (SPEC, the default).
  case normalized
  /// s_v = z_v − log(1 + Σ_{u≠mask} e^{z_u}): the public codes' defect (their "own token gets 0"
  /// scatter writes 0 into a masked row's mask column before the log-softmax, so the probabilities
  /// sum to less than one). Only to reproduce published runs.
  case leaky
}

/// The one masked log-softmax of the project: the teacher's targets, the student's distillation
/// loss and every sampler's draw normalise logits with these functions, so that what the teacher
/// writes and what the student is compared with cannot drift apart.
public enum MaskedLogSoftmax {
  /// log p(x0) of every row of `logits` [M, V]: the mask column is −∞, the others normalised as
  /// `normalization` says. Rows are processed in parallel.
  public static func logProbabilities(_ logits: Tensor, mask: Int, normalization: MaskNormalization = .normalized) -> Tensor {
    let v = logits.shape.last!, m = logits.count / v
    precondition(mask >= 0 && mask < v, "MaskedLogSoftmax: mask \(mask) outside \(v) columns")
    let out = Tensor(uninitialized: logits.shape)
    let zp = logits.pointer, op = out.pointer
    Parallel.forRange(m, grain: max(1, 16384 / v)) { range in
      for r in range { logProbabilities(zp + r * v, v, mask: mask, normalization: normalization, into: op + r * v) }
    }
    return out
  }

  /// One row: `out[u] = z[u] − normaliser`, `out[mask] = −∞` (`out` may be `z`).
  @inline(__always)
  public static func logProbabilities(_ z: UnsafePointer<Float>, _ v: Int, mask: Int, normalization: MaskNormalization,
                               into out: UnsafeMutablePointer<Float>) {
    let lz = normalizer(z, v, mask: mask, normalization: normalization)
    for u in 0..<v { out[u] = z[u] - lz }  // (z may alias out: each element is read before written)
    out[mask] = -.infinity
  }

  /// log Σ_{u≠mask} e^{z_u}, or log(1 + that) for the leaky normalisation.
  @inline(__always)
  static func normalizer(_ z: UnsafePointer<Float>, _ v: Int, mask: Int, normalization: MaskNormalization) -> Float {
    let lse = logNormalizer(z, v, excluded: mask)
    switch normalization {
    case .normalized: return lse
    case .leaky: return lse > 0 ? lse + log1pf(expf(-lse)) : log1pf(expf(lse))  // log(1 + e^lse), stably
    }
  }
}
