import Foundation

/// The log-linear schedule with eps = 1e-3 (fixed in the reference, whatever the config says):
/// α(t) = 1 − (1−eps)·t, α'(t) = −(1−eps), σ(t) = −log α(t); a token is masked with
/// probability 1 − α(t) (the "move chance").
public enum LogLinearSchedule {
  public static let eps: Double = 1e-3

  public static func alpha(_ t: Double) -> Double { 1 - (1 - eps) * t }
  public static var alphaDerivative: Double { -(1 - eps) }
  /// The ELBO weight α'/(1−α) (negative; times log p it gives a positive loss).
  public static func weight(_ t: Double) -> Double { alphaDerivative / (1 - alpha(t)) }
  public static func sigma(_ t: Double) -> Double { -Foundation.log(alpha(t)) }
  public static func maskProbability(_ t: Double) -> Double { 1 - alpha(t) }
}

/// The ε conventions of the time axis (SPEC §4–§6), named once.
public enum DiffusionTime {
  /// Pretraining draws t = (1 − ε)·u + ε with this ε.
  public static let pretrainingFloor = 1e-3
  /// SDTT draws its target times with this ε, and clamps the reference spacing at it.
  public static let distillationFloor = 1e-5
  /// Samplers run `linspace(1, samplingEnd, S + 1)`.
  public static let samplingEnd = 1e-5

  /// The step of an S-step sampler, and of an S0-step teacher's grid: (1 − 1e-5)/S.
  public static func samplingStep(steps: Int) -> Double { (1 - samplingEnd) / Double(steps) }

  /// t = (1 − ε)·u + ε.
  @inline(__always)
  public static func time(fromUniform u: Double, floor: Double) -> Double { (1 - floor) * u + floor }
}
