import Foundation

/// The reference's categorical draw (SPEC §5), the only one in the project:
/// `argmax_i w_i / (1e-10 − log(u_i + 1e-10))` with u_i uniform. Dividing by an Exp(1) variable
/// is an exponential race, won by i with probability w_i / Σw (the 1e-10 terms only guard the
/// logarithm). Entries of weight 0 take no uniform (so the stream does not depend on how many
/// impossible tokens a vocabulary has); ties go to the first index; −1 when every weight is 0.
///
/// The precision is the reference's per use: float64 for the samplers' draws from p(x0), float32
/// for the SDTT teacher's ancestral step over [p·(m_t − m_s), m_s].
///
/// The samplers' draws from log-probabilities (`draw(logProbabilities:…)`) are the float64 race with
/// w_i = exp(x_i), without evaluating the exponential and logarithm of entries that cannot win:
/// written directly, that costs a float64 `exp` and `log` per vocabulary entry (~200 instructions
/// each, more than the decoder's few-row products at V = 2049). Since −log y ≥ 1 − y, the
/// denominator is at least 1 − u_i, so the score of entry i is at most w_i / (1 − u_i); with w_i
/// bounded from a SIMD float exponential (a few ulp, allowed 1e-5 here) every entry whose bound is
/// below the best score so far is skipped. Such an entry would have failed the strict
/// `score > best` test anyway, so the same uniforms are drawn, the same scores are computed for
/// every other entry and the result is the weight-closure race's, bit for bit.
public enum GumbelMax {
  /// Entry i's score in the float64 race.
  @inline(__always) static func score(weight w: Double, uniform u: Double) -> Double {
    w / (1e-10 - Foundation.log(u + 1e-10))
  }

  @inline(__always)
  public static func draw(count: Int, rng: inout RandomStream, weight: (Int) -> Double) -> Int {
    var best = -1, bestScore = -Double.infinity
    for i in 0..<count {
      let w = weight(i)
      guard w > 0 else { continue }
      let s = score(weight: w, uniform: rng.uniformDouble())
      if s > bestScore { bestScore = s; best = i }
    }
    return best
  }

  @inline(__always)
  public static func draw(count: Int, rng: inout RandomStream, weight: (Int) -> Float) -> Int {
    var best = -1, bestScore = -Float.infinity
    for i in 0..<count {
      let w = weight(i)
      guard w > 0 else { continue }
      let score = w / (1e-10 - logf(rng.uniformFloat() + 1e-10))
      if score > bestScore { bestScore = score; best = i }
    }
    return best
  }

  /// The float64 race over the weights exp(x_i) of log-probabilities `x` [count] (−∞ entries have
  /// weight 0): the same index as `draw(count:rng:weight:)` with `weight: { exp(Double(x[$0])) }`,
  /// and the stream left in the same state, skipping the entries that cannot win (see above).
  /// `scratch` holds `count` floats.
  public static func draw(logProbabilities x: UnsafePointer<Float>, count v: Int, scratch: UnsafeMutablePointer<Float>,
                          rng: inout RandomStream) -> Int {
    var j = 0
    while j + 16 <= v { storeVec(vexp(loadVec(x + j)), scratch + j); j += 16 }
    if j < v { storePartial(vexp(loadPartial(x + j, v - j)), scratch + j, v - j) }
    return rng.withLocalState { rng in
      var best = -1, bestScore = -Double.infinity
      for i in 0..<v {
        let xi = x[i]
        // Weight 0 takes no uniform: −∞ always; exp underflows to 0 in float64 only far below −700.
        guard xi > -.infinity else { continue }
        if xi < -700 && !(Foundation.exp(Double(xi)) > 0) { continue }
        let u = rng.uniformDouble()
        if bestScore > 0 {
          // score ≤ wUpper / eLower; exp(x) ≤ e^−80 below −80, where the float exponential flushes to
          // 0; above 80 it nears its saturation at 88.3 and bounds nothing (log-probabilities are ≤ 0).
          let wUpper = xi < -80 ? 1.81e-35 : xi > 80 ? Double.infinity : Double(scratch[i]) * (1 + 1e-5)
          let eLower = (1 - u - 1e-15) * (1 - 1e-9)
          if eLower > 0 && wUpper * (1 + 1e-9) < bestScore * eLower * (1 - 1e-9) { continue }
        }
        let s = score(weight: Foundation.exp(Double(xi)), uniform: u)
        if s > bestScore { bestScore = s; best = i }
      }
      return best
    }
  }
}
