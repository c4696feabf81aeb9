import Engine

/// How a batch of n rows draws its diffusion times (SPEC §4, §6). All are stratified over the
/// batch (low-variance "antithetic" times); they differ in how many uniforms they use.
public enum TimeDraw {
  /// Pretraining: one uniform r_i per row, u_i = (r_i/n + i/n) mod 1 — row i lands in the i-th
  /// n-th of [0, 1). t = (1 − ε)u + ε.
  public static func stratifiedPerRow(_ n: Int, floor: Double = DiffusionTime.pretrainingFloor,
                                      rng: inout RandomStream) -> [Double] {
    (0..<n).map { i in
      let r = rng.uniformDouble()
      let u = (r / Double(n) + Double(i) / Double(n)).truncatingRemainder(dividingBy: 1)
      return DiffusionTime.time(fromUniform: u, floor: floor)
    }
  }

  /// SDTT: one uniform r for the batch, u_i = (r + i/n) mod 1 (evenly spaced, shifted together).
  public static func sharedOffset(_ n: Int, floor: Double = DiffusionTime.distillationFloor,
                                  rng: inout RandomStream) -> [Double] {
    let r = rng.uniformDouble()
    return (0..<n).map { i in
      DiffusionTime.time(fromUniform: (r + Double(i) / Double(n)).truncatingRemainder(dividingBy: 1), floor: floor)
    }
  }

  /// Times on a sampler's grid 1 − j·Δ, j = 0 … S−1 (S = round(1/Δ)): one random offset, then
  /// consecutive grid points, so a batch covers the grid evenly.
  public static func grid(_ n: Int, step: Double, rng: inout RandomStream) -> [Double] {
    let s = max(1, Int((1 / step).rounded()))
    let first = Int(rng.uniformDouble() * Double(s)) % s
    return (0..<n).map { i in 1 - Double((first + i) % s) * step }
  }
}
