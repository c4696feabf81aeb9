import Foundation

/// One line of `metrics.jsonl`: an optimizer step's figures, or a validation result.
public enum MetricsLine: Codable, Equatable, Sendable {
  case step(StepMetrics)
  case validation(ValidationMetrics)

  public var step: Int {
    switch self {
    case .step(let m): return m.step
    case .validation(let m): return m.step
    }
  }

  public init(from decoder: Decoder) throws {
    let c = try decoder.container(keyedBy: ValidationMetrics.CodingKeys.self)
    if c.contains(.valNLL) { self = .validation(try ValidationMetrics(from: decoder)) }
    else { self = .step(try StepMetrics(from: decoder)) }
  }

  public func encode(to encoder: Encoder) throws {
    switch self {
    case .step(let m): try m.encode(to: encoder)
    case .validation(let m): try m.encode(to: encoder)
    }
  }
}

public struct StepMetrics: Codable, Equatable, Sendable {
  public var step: Int
  public var loss: Double
  public var gradNorm: Double
  public var learningRate: Double
  public var tokensPerSecond: Double
  public var tokensSeen: Int
  enum CodingKeys: String, CodingKey {
    case step, loss, gradNorm = "grad_norm", learningRate = "lr", tokensPerSecond = "tokens_per_s", tokensSeen = "tokens_seen"
  }
}

public struct ValidationMetrics: Codable, Equatable, Sendable {
  public var step: Int
  public var valNLL: Double
  public var valPPL: Double { exp(valNLL) }
  enum CodingKeys: String, CodingKey { case step, valNLL = "val_nll", valPPL = "val_ppl" }
  public init(step: Int, valNLL: Double) { self.step = step; self.valNLL = valNLL }
  public init(from decoder: Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    step = try c.decode(Int.self, forKey: .step)
    valNLL = try c.decode(Double.self, forKey: .valNLL)
  }
  public func encode(to encoder: Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    try c.encode(step, forKey: .step)
    try c.encode(valNLL, forKey: .valNLL)
    try c.encode(valPPL, forKey: .valPPL)
  }
}
