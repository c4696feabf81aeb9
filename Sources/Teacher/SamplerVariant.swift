/// A sampler setting that costs nothing to try on a trained network: the reveal schedule and
/// order, a temperature, nucleus filtering, a greedy final reveal, and (for noise-conditioned
/// students) the noise scale. Reports compare a student with the teacher's best variant at equal steps, so every
/// variant has a short, stable name.
public struct SamplerVariant: Codable, Sendable, Hashable, CustomStringConvertible {
  public var schedule: PartitionSchedule
  public var order: RevealOrder
  public var topP: Double
  public var greedyTail: Bool
  public var noise: Double
  /// Logits are divided by it before filtering and the draw (1 = off). Below 1 sharpens (lower
  /// entropy), above 1 flattens: the knob that moves a model along its quality–entropy line, so a
  /// comparison at equal entropy can use it for teacher and student alike.
  public var temperature: Double
  /// For students distilled with seed tokens: the first step reads a random token at every unknown
  /// position (`SeedTokens`).
  public var seedTokens: Bool

  public init(schedule: PartitionSchedule = .uniform, order: RevealOrder = .random, topP: Double = 1,
              greedyTail: Bool = false, noise: Double = 0, temperature: Double = 1, seedTokens: Bool = false) {
    self.schedule = schedule; self.order = order; self.topP = topP; self.greedyTail = greedyTail; self.noise = noise
    self.temperature = temperature; self.seedTokens = seedTokens
  }

  enum CodingKeys: String, CodingKey {
    case schedule = "sampler", order, topP = "top_p", greedyTail = "greedy_tail", noise, temperature
    case seedTokens = "seed_tokens"
  }

  /// Temperature 1 and seed tokens off are not written, so a variant without them encodes (and
  /// hashes, in cached evaluation rows) exactly as before the options existed.
  public func encode(to encoder: Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    try c.encode(schedule, forKey: .schedule)
    try c.encode(order, forKey: .order)
    try c.encode(topP, forKey: .topP)
    try c.encode(greedyTail, forKey: .greedyTail)
    try c.encode(noise, forKey: .noise)
    if temperature != 1 { try c.encode(temperature, forKey: .temperature) }
    if seedTokens { try c.encode(seedTokens, forKey: .seedTokens) }
  }

  public init(from decoder: Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    schedule = try c.decodeIfPresent(PartitionSchedule.self, forKey: .schedule) ?? .uniform
    order = try c.decodeIfPresent(RevealOrder.self, forKey: .order) ?? .random
    topP = try c.decodeIfPresent(Double.self, forKey: .topP) ?? 1
    greedyTail = try c.decodeIfPresent(Bool.self, forKey: .greedyTail) ?? false
    noise = try c.decodeIfPresent(Double.self, forKey: .noise) ?? 0
    temperature = try c.decodeIfPresent(Double.self, forKey: .temperature) ?? 1
    seedTokens = try c.decodeIfPresent(Bool.self, forKey: .seedTokens) ?? false
  }

  /// The published default: uniform random reveals, full distribution, a draw at every step.
  public static let plain = SamplerVariant()

  /// "plain", or the options that differ from it joined by "+" (e.g. "confidence+greedy-tail").
  public var description: String {
    var parts: [String] = []
    if schedule != .uniform { parts.append(schedule.rawValue) }
    if order != .random { parts.append(order.rawValue) }
    if temperature != 1 { parts.append("temperature \(Self.format(temperature))") }
    if topP < 1 { parts.append("top-p \(Self.format(topP))") }
    if greedyTail { parts.append("greedy-tail") }
    if noise > 0 { parts.append("noise \(Self.format(noise))") }
    if seedTokens { parts.append("seeds") }
    return parts.isEmpty ? "plain" : parts.joined(separator: "+")
  }

  static func format(_ x: Double) -> String {
    x == x.rounded() ? String(Int(x)) : String(format: "%g", x)
  }

  /// The free options the project has, for a model trained without a noise input: plain, nucleus
  /// over a small grid, greedy tail, confidence order, their useful combinations, non-uniform, and
  /// temperatures 0.9 / 1.1 with and without the greedy tail (a model above the entropy line can
  /// trade its excess for quality; one below it can buy entropy back).
  public static let freeGrid: [SamplerVariant] = [
    .plain,
    SamplerVariant(topP: 0.95), SamplerVariant(topP: 0.9), SamplerVariant(topP: 0.8),
    SamplerVariant(greedyTail: true),
    SamplerVariant(order: .confidence),
    SamplerVariant(order: .confidence, greedyTail: true),
    SamplerVariant(topP: 0.9, greedyTail: true),
    SamplerVariant(schedule: .nonUniform),
    SamplerVariant(temperature: 0.9), SamplerVariant(greedyTail: true, temperature: 0.9),
    SamplerVariant(temperature: 1.1), SamplerVariant(greedyTail: true, temperature: 1.1),
  ]
}
