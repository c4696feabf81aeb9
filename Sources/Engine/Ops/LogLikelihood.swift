/// The likelihood term of the diffusion losses, fused: per row i of logits [N, V],
///   ℓ_i = log softmax(logits_i with column `excluded` at −∞)[target_i],
/// and the scalar Σ_i w_i·ℓ_i. Rows with w_i = 0 are skipped (no work, no gradient), which is how
/// MDLM's clean positions — point masses in the "subs" parameterisation — drop out. Backward needs
/// only the per-row log-normaliser: dlogits_i = w_i·(onehot(target_i) − softmax_i).
public struct LogLikelihood {
  /// Σ_i w_i·ℓ_i, shape [1].
  public let total: Var
  /// ℓ_i per row (0 for skipped rows), for reporting per-token losses.
  public let rowLogProbs: [Float]
}

extension Graph {
  public func weightedLogLikelihood(_ logits: Var, targets: [Int32], weights: [Float], excluded: Int?) -> LogLikelihood {
    let v = logits.shape.last!, n = logits.value.count / v
    precondition(targets.count == n && weights.count == n, "weightedLogLikelihood: \(n) rows, \(targets.count) targets, \(weights.count) weights")
    precondition(targets.allSatisfy { $0 >= 0 && Int($0) < v && Int($0) != excluded },
                 "weightedLogLikelihood: a target lies outside the vocabulary or is the excluded column")
    var logNorm = [Float](repeating: 0, count: n)
    var rowLogProbs = [Float](repeating: 0, count: n)
    let lp = logits.value.pointer
    logNorm.withUnsafeMutableBufferPointer { ln in
      rowLogProbs.withUnsafeMutableBufferPointer { rl in
        let lnp = ln.baseAddress!, rlp = rl.baseAddress!
        Parallel.forRange(n, grain: max(1, 16384 / v)) { range in
          for i in range where weights[i] != 0 {
            let z = logNormalizer(lp + i * v, v, excluded: excluded)
            lnp[i] = z
            rlp[i] = lp[i * v + Int(targets[i])] - z
          }
        }
      }
    }
    var total: Double = 0
    for i in 0..<n where weights[i] != 0 { total += Double(weights[i]) * Double(rowLogProbs[i]) }
    let out = Tensor.filled([1], Float(total))
    let result = record(out, logits) { g, dy in
      let scale = dy[flat: 0]
      let dl = Tensor(uninitialized: logits.shape)
      let dlp = dl.pointer
      Parallel.forRange(n, grain: max(1, 16384 / v)) { range in
        for i in range {
          let row = dlp + i * v
          let w = weights[i] * scale
          if w == 0 { row.update(repeating: 0, count: v); continue }
          let zv = Vec(repeating: logNorm[i]), wv = Vec(repeating: -w)
          var j = 0
          let src = lp + i * v
          while j < v {
            let m = min(16, v - j)
            store(wv * vexp((m == 16 ? loadVec(src + j) : loadPartial(src + j, m)) - zv), row + j, m)
            j += 16
          }
          if let excluded { row[excluded] = 0 }
          row[Int(targets[i])] += w
        }
      }
      g.accumulate(logits, dl, owned: true)
    }
    return LogLikelihood(total: result, rowLogProbs: rowLogProbs)
  }
}

/// log Σ_j exp(x_j) over a row, skipping column `excluded` (summed as the two ranges around it, so
/// a large excluded logit costs no precision).
@inline(__always)
func logNormalizer(_ x: UnsafePointer<Float>, _ n: Int, excluded: Int?) -> Float {
  let e = excluded ?? n
  let m = Swift.max(maxVec(e, x), e + 1 < n ? maxVec(n - e - 1, x + e + 1) : -.infinity)
  if m == -.infinity { return -.infinity }
  var s = sumExp(e, x, m)
  if e + 1 < n { s += sumExp(n - e - 1, x + e + 1, m) }
  return m + logf(s)
}

/// Σ exp(x_j − m) over n floats.
@inline(__always)
func sumExp(_ n: Int, _ x: UnsafePointer<Float>, _ m: Float) -> Float {
  let mv = Vec(repeating: m)
  var acc = Vec(), i = 0
  while i + 16 <= n { acc += vexp(loadVec(x + i) - mv); i += 16 }
  var s = acc.sum()
  if i < n { s += vexp(loadPartial(x + i, n - i, fill: -.infinity) - mv).sum() }
  return s
}

import Foundation
