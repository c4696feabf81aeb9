/// A sampler setting that costs nothing to try on a trained network: the reveal schedule and
/// order, nucleus filtering, a greedy final reveal, and (for noise-conditioned students) the noise
/// scale. Reports compare a student with the teacher's best variant at equal steps, so every
/// variant has a short, stable name.
public struct SamplerVariant: Codable, Sendable, Hashable, CustomStringConvertible {
  public var schedule: PartitionSchedule
  public var order: RevealOrder
  public var topP: Double
  public var greedyTail: Bool
  public var noise: Double

  public init(schedule: PartitionSchedule = .uniform, order: RevealOrder = .random, topP: Double = 1,
              greedyTail: Bool = false, noise: Double = 0) {
    self.schedule = schedule; self.order = order; self.topP = topP; self.greedyTail = greedyTail; self.noise = noise
  }

  enum CodingKeys: String, CodingKey {
    case schedule = "sampler", order, topP = "top_p", greedyTail = "greedy_tail", noise
  }

  public init(from decoder: Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    schedule = try c.decodeIfPresent(PartitionSchedule.self, forKey: .schedule) ?? .uniform
    order = try c.decodeIfPresent(RevealOrder.self, forKey: .order) ?? .random
    topP = try c.decodeIfPresent(Double.self, forKey: .topP) ?? 1
    greedyTail = try c.decodeIfPresent(Bool.self, forKey: .greedyTail) ?? false
    noise = try c.decodeIfPresent(Double.self, forKey: .noise) ?? 0
  }

  /// The published default: uniform random reveals, full distribution, a draw at every step.
  public static let plain = SamplerVariant()

  /// "plain", or the options that differ from it joined by "+" (e.g. "confidence+greedy-tail").
  public var description: String {
    var parts: [String] = []
    if schedule != .uniform { parts.append(schedule.rawValue) }
    if order != .random { parts.append(order.rawValue) }
    if topP < 1 { parts.append("top-p \(Self.format(topP))") }
    if greedyTail { parts.append("greedy-tail") }
    if noise > 0 { parts.append("noise \(Self.format(noise))") }
    return parts.isEmpty ? "plain" : parts.joined(separator: "+")
  }

  static func format(_ x: Double) -> String {
    x == x.rounded() ? String(Int(x)) : String(format: "%g", x)
  }

  /// The free options the project has, for a model trained without a noise input: plain, nucleus
  /// over a small grid, greedy tail, confidence order, their useful combinations, non-uniform.
  public static let freeGrid: [SamplerVariant] = [
    .plain,
    SamplerVariant(topP: 0.95), SamplerVariant(topP: 0.9), SamplerVariant(topP: 0.8),
    SamplerVariant(greedyTail: true),
    SamplerVariant(order: .confidence),
    SamplerVariant(order: .confidence, greedyTail: true),
    SamplerVariant(topP: 0.9, greedyTail: true),
    SamplerVariant(schedule: .nonUniform),
  ]
}
