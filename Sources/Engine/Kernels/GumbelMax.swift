import Foundation

/// The reference's Gumbel-max draw over a row of log-probabilities, without evaluating the
/// exponential and logarithm of entries that cannot win.
///
/// The draw is `argmax_i p_i / (1e-10 − log(u_i + 1e-10))`, p_i = exp(x_i) in float64, one float64
/// uniform u_i per entry with x_i > −∞ in index order, ties to the first index. Written directly, it
/// costs a float64 `exp` and `log` per vocabulary entry (~200 instructions each, more than the
/// decoder's few-row products at V = 2049). Since −log y ≥ 1 − y, the denominator is at least
/// 1 − u_i, so the score of entry i is at most p_i / (1 − u_i); with p_i bounded from a SIMD float
/// exponential (a few ulp, allowed 1e-5 here) every entry whose bound is below the best score so far
/// is skipped. Such an entry would have failed the strict `score > best` test anyway, so the same
/// uniforms are drawn, the same scores are computed for every other entry and the result is
/// identical to the direct loop, bit for bit.
public enum GumbelMax {
  /// The index drawn from the log-probabilities `x` [count] (−1 when every entry is −∞);
  /// `scratch` holds `count` floats.
  public static func draw(logProbabilities x: UnsafePointer<Float>, count v: Int, scratch: UnsafeMutablePointer<Float>,
                          rng: inout RandomStream) -> Int {
    var j = 0
    while j + 16 <= v { storeVec(vexp(loadVec(x + j)), scratch + j); j += 16 }
    if j < v { storePartial(vexp(loadPartial(x + j, v - j)), scratch + j, v - j) }
    return rng.withLocalState { rng in
      var best = -1, bestScore = -Double.infinity
      for i in 0..<v where x[i] > -.infinity {
        let u = rng.uniformDouble()
        if bestScore > 0 {
          // score ≤ pUpper / eLower; exp(x) ≤ e^−80 below −80, where the float exponential flushes to 0.
          let pUpper = x[i] < -80 ? 1.81e-35 : Double(scratch[i]) * (1 + 1e-5)
          let eLower = (1 - u - 1e-15) * (1 - 1e-9)
          if eLower > 0 && pUpper * (1 + 1e-9) < bestScore * eLower * (1 - 1e-9) { continue }
        }
        let p = Foundation.exp(Double(x[i]))
        let score = p / (1e-10 - Foundation.log(u + 1e-10))
        if score > bestScore { bestScore = score; best = i }
      }
      return best
    }
  }

  /// The direct loop (tests compare the two).
  public static func drawDirectly(logProbabilities x: UnsafePointer<Float>, count v: Int, rng: inout RandomStream) -> Int {
    var best = -1, bestScore = -Double.infinity
    for i in 0..<v where x[i] > -.infinity {
      let p = Foundation.exp(Double(x[i]))
      let score = p / (1e-10 - Foundation.log(rng.uniformDouble() + 1e-10))
      if score > bestScore { bestScore = score; best = i }
    }
    return best
  }
}
