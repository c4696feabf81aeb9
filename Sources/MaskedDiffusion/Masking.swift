import Engine


/// The forward process: each token of row i is "moved" (masked, or put in the partition network's
/// group 1) independently with probability 1 − α(t_i). One float64 uniform per token, row-major —
/// the same draws whichever form the result takes.
public enum Masking {
  /// The moved positions of `shape` [B, L] at times `t` [B] (true = moved).
  public static func draw(shape: [Int], times t: [Double], rng: inout RandomStream) -> [Bool] {
    let b = shape[0], l = shape[1]
    precondition(t.count == b, "one time per row: \(t.count) for \(b) rows")
    var moved = [Bool](repeating: false, count: b * l)
    for i in 0..<b {
      let p = LogLinearSchedule.maskProbability(t[i])
      for j in 0..<l where rng.uniformDouble() < p { moved[i * l + j] = true }
    }
    return moved
  }

  /// MDLM masking: x_t = x0 with the moved tokens replaced by `mask`. Positions below
  /// `keepingFirst` are never masked (their uniforms are still drawn, so the other positions see
  /// the same draws): SDTT targets keep the BOS clean, as every sampler does.
  public static func mask(_ x0: TokenTensor, times t: [Double], mask: Int32, keepingFirst: Int = 0,
                          rng: inout RandomStream) -> TokenTensor {
    let moved = draw(shape: x0.shape, times: t, rng: &rng)
    let l = x0.shape[1]
    var xt = x0
    for (i, m) in moved.enumerated() where m && i % l >= keepingFirst { xt.values[i] = mask }
    return xt
  }

  /// Partition groups: 1 for a moved token (the group that plays "masked"), else 0.
  public static func groups(shape: [Int], times t: [Double], rng: inout RandomStream) -> TokenTensor {
    TokenTensor(shape: shape, values: draw(shape: shape, times: t, rng: &rng).map { $0 ? 1 : 0 })
  }
}
