import Foundation

/// Per-segment aggregates over the token axis, for GroupSwap's `+mean` / `+logsumexp` queries.
public enum SegmentReduction: String, Sendable { case mean, logsumexp }

extension Graph {
  /// out[b, s] = aggregate of x[b, l] over the tokens with segments[b, l] == s (−1: excluded).
  /// x [B, L, D], segments [B, L] → [B, S, D]. An empty segment gives 0 (mean divides by
  /// max(count, 1); the reference maps an empty logsumexp's −∞ to 0).
  public func segmentReduce(_ x: Var, segments: TokenTensor, count s: Int, _ mode: SegmentReduction) -> Var {
    let b = x.shape[0], l = x.shape[1], d = x.value.count / (b * l)
    precondition(segments.shape == [b, l], "segmentReduce: segments \(segments.shape) for x \(x.shape)")
    precondition(segments.values.allSatisfy { $0 >= -1 && $0 < s }, "segmentReduce: segment id outside -1..<\(s)")
    let out = Tensor.zeros([b, s, d])
    var counts = [Int](repeating: 0, count: b * s)
    for bi in 0..<b { for j in 0..<l where segments[bi, j] >= 0 { counts[bi * s + Int(segments[bi, j])] += 1 } }
    let xp = x.value.pointer, op = out.pointer
    switch mode {
    case .mean:
      for bi in 0..<b {
        for j in 0..<l where segments[bi, j] >= 0 {
          axpyVec(d, 1, xp + (bi * l + j) * d, op + (bi * s + Int(segments[bi, j])) * d)
        }
        for k in 0..<s {
          let inv = 1 / Float(max(counts[bi * s + k], 1))
          mapVec(d, op + (bi * s + k) * d, op + (bi * s + k) * d) { $0 * inv }
        }
      }
    case .logsumexp:
      // Stable: running max then Σ exp(x − max) per feature.
      let mx = Tensor.filled([b, s, d], -.infinity)
      for bi in 0..<b {
        for j in 0..<l where segments[bi, j] >= 0 {
          let m = mx.pointer + (bi * s + Int(segments[bi, j])) * d
          mapVec2(d, m, xp + (bi * l + j) * d, m) { vmax($0, $1) }
        }
        for j in 0..<l where segments[bi, j] >= 0 {
          let k = Int(segments[bi, j])
          let m = mx.pointer + (bi * s + k) * d, o = op + (bi * s + k) * d
          for f in 0..<d { o[f] += expf(xp[(bi * l + j) * d + f] - m[f]) }
        }
        for k in 0..<s {
          let m = mx.pointer + (bi * s + k) * d, o = op + (bi * s + k) * d
          for f in 0..<d {
            let v = counts[bi * s + k] == 0 ? 0 : m[f] + logf(o[f])
            o[f] = v.isInfinite ? 0 : v
          }
        }
      }
    }
    return record(out, x) { g, dy in
      let dx = Tensor.zeros(x.shape)
      let dyp = dy.pointer, dxp = dx.pointer, op = out.pointer, xp = x.value.pointer
      for bi in 0..<b {
        for j in 0..<l where segments[bi, j] >= 0 {
          let k = Int(segments[bi, j])
          let src = dyp + (bi * s + k) * d, dst = dxp + (bi * l + j) * d
          switch mode {
          case .mean:
            axpyVec(d, 1 / Float(max(counts[bi * s + k], 1)), src, dst)
          case .logsumexp:
            // d lse / d x = softmax weight exp(x − lse)
            let lse = op + (bi * s + k) * d, xr = xp + (bi * l + j) * d
            for f in 0..<d { dst[f] += src[f] * expf(xr[f] - lse[f]) }
          }
        }
      }
      g.accumulate(x, dx, owned: true)
    }
  }
}
