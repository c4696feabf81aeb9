import Foundation

/// The reference's categorical draw (SPEC §5), the only one in the project:
/// `argmax_i w_i / (1e-10 − log(u_i + 1e-10))` with u_i uniform. Dividing by an Exp(1) variable
/// is an exponential race, won by i with probability w_i / Σw (the 1e-10 terms only guard the
/// logarithm). Entries of weight 0 take no uniform (so the stream does not depend on how many
/// impossible tokens a vocabulary has); ties go to the first index; −1 when every weight is 0.
///
/// The precision is the reference's per use: float64 for the samplers' draws from p(x0), float32
/// for the SDTT teacher's ancestral step over [p·(m_t − m_s), m_s].
public enum GumbelMax {
  @inline(__always)
  public static func draw(count: Int, rng: inout RandomStream, weight: (Int) -> Double) -> Int {
    var best = -1, bestScore = -Double.infinity
    for i in 0..<count {
      let w = weight(i)
      guard w > 0 else { continue }
      let score = w / (1e-10 - Foundation.log(rng.uniformDouble() + 1e-10))
      if score > bestScore { bestScore = score; best = i }
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
}
