/// The divergences SDTT can match a student to its teacher with (SPEC §6), all on masked
/// positions only.
public enum Divergence: String, Codable, Sendable, CaseIterable {
  /// Σ_v e^{s_v}(s_v − τ_v): the papers' default, the only one found to keep quality as steps shrink.
  case reverseKL = "reverse_kl"
  /// Σ_v e^{τ_v}(τ_v − s_v).
  case forwardKL = "forward_kl"
  /// Mean over all N·V entries of (s_v − τ_v)² on log-probabilities.
  case mse
  /// True total variation ½ Σ_v |e^{s_v} − e^{τ_v}|.
  case totalVariation = "tv"
  /// What the public code calls "tvd": Σ_v |s_v − τ_v| on log-probabilities (named honestly).
  case logL1 = "log_l1"
}
