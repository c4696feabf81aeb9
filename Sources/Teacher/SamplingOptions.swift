import MaskedDiffusion
import Networks

/// How the partition sampler decides how many positions each step reveals (SPEC §5).
public enum PartitionSchedule: String, Sendable, Codable, CaseIterable {
  /// "efficient-uniform", the published default: every row reveals the next L/S positions of its
  /// own random order at each step (the last step one fewer, since position 0 is never sampled).
  case uniform
  /// "efficient-non-uniform": every row draws its count from Binomial(L, dt) at each step, capped
  /// by what it has left; steps where every row draws 0 are skipped; leftovers come in one final pass.
  case nonUniform = "non-uniform"
}

/// Which masked positions a step reveals.
public enum RevealOrder: String, Sendable, Codable, CaseIterable {
  /// Each row's own uniformly random order (the reference's).
  case random
  /// MaskGIT-style: every still-masked position gets a draw, and the step keeps the draws the
  /// network is most confident of (highest probability of the drawn token); the others stay
  /// masked. Costs a decoder query per masked position per step.
  case confidence
}

/// Everything about a sampling request except the number of samples and steps.
///
/// Position 0 always holds a known token (the BOS), so `prefix` must hold at least that one.
public struct SamplingOptions: Sendable, Equatable {
  /// Known tokens at positions 0..<prefix.count; `prefix[0]` is the BOS. They are part of the clean
  /// set from the start (partition) or clamped on the all-mask sequence (MDLM) and never sampled.
  /// Used by `Sampler.sample(count:…)`; `Sampler.generate(prefixes:…)` takes one prefix per row.
  public var prefix: [Int32]
  /// Rows per network pass. Samples do not depend on it (each row has its own random stream), up
  /// to the rounding of batched matrix products.
  public var batchSize: Int
  /// Nucleus filtering: keep the smallest set of most probable tokens whose mass exceeds `topP`
  /// (1 = off, as the reference's `p_nucleus = 1`). Must lie in (0, 1].
  public var topP: Double
  /// Each row's final reveal takes the argmax instead of a draw (the SDTT code's sampler ends so).
  public var greedyTail: Bool
  /// Partition networks only: uniform (published default) or non-uniform reveal counts.
  public var schedule: PartitionSchedule
  /// Which positions each step reveals.
  public var order: RevealOrder
  /// Noise-conditioned networks (students distilled with a noise input): each row draws its
  /// conditioning σ ~ U(0, noise) at every step. 0: σ = 0, as every published model.
  public var noise: Double
  /// Logits are divided by it before nucleus filtering and the draw (1 = off, as the reference).
  public var temperature: Double
  /// Partition networks distilled with seed tokens: the first pass reads a random token at every
  /// unknown position, with σ = −1 (`SeedTokens`). false: as every published model.
  public var seedTokens: Bool

  public init(prefix: [Int32], batchSize: Int = 1, topP: Double = 1, greedyTail: Bool = false,
              schedule: PartitionSchedule = .uniform, order: RevealOrder = .random, noise: Double = 0,
              temperature: Double = 1, seedTokens: Bool = false) {
    self.prefix = prefix
    self.batchSize = batchSize
    self.topP = topP
    self.greedyTail = greedyTail
    self.schedule = schedule
    self.order = order
    self.noise = noise
    self.temperature = temperature
    self.seedTokens = seedTokens
  }

  /// Unconditional sampling: only the BOS at position 0 is known.
  public init(bos: Int32, batchSize: Int = 1, topP: Double = 1, greedyTail: Bool = false,
              schedule: PartitionSchedule = .uniform, order: RevealOrder = .random, noise: Double = 0,
              temperature: Double = 1, seedTokens: Bool = false) {
    self.init(prefix: [bos], batchSize: batchSize, topP: topP, greedyTail: greedyTail, schedule: schedule,
              order: order, noise: noise, temperature: temperature, seedTokens: seedTokens)
  }

  /// The options of a named sampler variant.
  public init(bos: Int32, batchSize: Int, variant: SamplerVariant) {
    self.init(bos: bos, batchSize: batchSize, topP: variant.topP, greedyTail: variant.greedyTail,
              schedule: variant.schedule, order: variant.order, noise: variant.noise, temperature: variant.temperature,
              seedTokens: variant.seedTokens)
  }

  /// Checks what does not depend on the prefixes (those are checked per row by `validatePrefix`).
  func validate(steps: Int) throws {
    guard steps >= 1 else { throw SamplingError.invalidSteps(steps) }
    guard batchSize >= 1 else { throw SamplingError.invalidBatchSize(batchSize) }
    guard topP > 0 && topP <= 1 else { throw SamplingError.invalidTopP(topP) }
    guard noise >= 0 && noise.isFinite else { throw SamplingError.invalidNoise(noise) }
    guard temperature > 0 && temperature.isFinite else { throw SamplingError.invalidTemperature(temperature) }
  }

  /// A prefix must hold the BOS, fit in the sequence, and use real tokens (not the mask).
  static func validatePrefix(_ prefix: [Int32], config: ModelConfig) throws {
    guard !prefix.isEmpty else { throw SamplingError.emptyPrefix }
    guard prefix.count <= config.length else {
      throw SamplingError.prefixTooLong(prefix: prefix.count, length: config.length)
    }
    for (i, token) in prefix.enumerated() {
      guard token >= 0 && Int(token) < config.vocabSize else {
        throw SamplingError.tokenOutsideVocabulary(position: i, token: token, vocabularySize: config.vocabSize)
      }
      guard Int(token) != config.maskIndex else { throw SamplingError.maskTokenInPrefix(position: i) }
    }
  }
}

/// A request no sampler can honour, with a message that says what to change.
public enum SamplingError: Error, Equatable, CustomStringConvertible {
  case invalidSteps(Int)
  case invalidCount(Int)
  case invalidBatchSize(Int)
  case invalidTopP(Double)
  case invalidNoise(Double)
  case invalidTemperature(Double)
  /// Efficient-uniform reveals L/S positions per step, so S must divide L (as in the reference).
  case stepsDoNotDivideLength(length: Int, steps: Int)
  case emptyPrefix
  case prefixTooLong(prefix: Int, length: Int)
  case tokenOutsideVocabulary(position: Int, token: Int32, vocabularySize: Int)
  case maskTokenInPrefix(position: Int)
  case unsupportedNetwork(String)

  public var description: String {
    switch self {
    case .invalidSteps(let s): return "the number of steps must be at least 1 (got \(s))"
    case .invalidCount(let n): return "the number of samples must not be negative (got \(n))"
    case .invalidBatchSize(let b): return "the batch size must be at least 1 (got \(b))"
    case .invalidTopP(let p): return "top-p must lie in (0, 1] (got \(p)); 1 turns nucleus filtering off"
    case .invalidNoise(let n): return "the noise scale must be a finite number ≥ 0 (got \(n)); 0 turns it off"
    case .invalidTemperature(let t): return "the temperature must be a finite number > 0 (got \(t)); 1 turns it off"
    case .stepsDoNotDivideLength(let l, let s):
      return "the uniform partition sampler reveals L/S positions per step, so the step count must divide "
        + "the sequence length \(l) (got \(s) steps); use a divisor of \(l) or the non-uniform schedule"
    case .emptyPrefix: return "the prefix must hold at least the BOS token (position 0 is never sampled)"
    case .prefixTooLong(let p, let l): return "the prefix has \(p) tokens but the sequence length is \(l)"
    case .tokenOutsideVocabulary(let i, let t, let v):
      return "prefix token \(t) at position \(i) is outside the vocabulary 0..<\(v)"
    case .maskTokenInPrefix(let i): return "prefix position \(i) holds the mask token; a prefix holds known tokens"
    case .unsupportedNetwork(let why): return why
    }
  }
}
