/// The log-linear schedule with eps = 1e-3 (fixed in the reference, whatever the config says):
/// α(t) = 1 − (1−eps)·t, α'(t) = −(1−eps), σ(t) = −log α(t); a token is masked with
/// probability 1 − α(t).
public enum LogLinearSchedule {
  public static let eps: Double = 1e-3

  public static func alpha(_ t: Double) -> Double { 1 - (1 - eps) * t }
  public static var alphaDerivative: Double { -(1 - eps) }
  /// The ELBO weight α'/(1−α) (negative; times log p it gives a positive loss).
  public static func weight(_ t: Double) -> Double { alphaDerivative / (1 - alpha(t)) }
  public static func sigma(_ t: Double) -> Double { -Foundation.log(alpha(t)) }
  public static func maskProbability(_ t: Double) -> Double { 1 - alpha(t) }
}

import Foundation
