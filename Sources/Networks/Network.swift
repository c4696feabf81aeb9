/// Every network this project builds — a closed set. Behaviour that differs by network is an
/// exhaustive `switch` over these cases (never a cast), so adding a network is a compile error at
/// every place that must handle it.
public enum Network {
  /// The partition network (`PartitionDIT`): a denoiser without mask tokens.
  case partition(PartitionDIT)
  /// The MDLM baseline (`DIT`, kind `mdlm`): a denoiser over the whole masked sequence.
  case mdlm(DIT)
  /// The causal `DIT` (kind `ar`): this project's autoregressive evaluator.
  case autoregressive(DIT)

  /// The network a config describes, initialised as the reference does from `seed`.
  public init(_ config: ModelConfig, seed: UInt64 = 0) throws {
    switch config.kind {
    case .pgm: self = .partition(try PartitionDIT(config: config, seed: seed))
    case .mdlm: self = .mdlm(try DIT(config: config, seed: seed))
    case .ar: self = .autoregressive(try DIT(config: config, seed: seed))
    }
  }

  public var config: ModelConfig {
    switch self {
    case .partition(let n): return n.config
    case .mdlm(let n), .autoregressive(let n): return n.config
    }
  }

  public var parameters: ParameterSet {
    switch self {
    case .partition(let n): return n.parameters
    case .mdlm(let n), .autoregressive(let n): return n.parameters
    }
  }

  /// The same network as a denoiser (teacher, student, sampler), or nil for the evaluator.
  public var denoiser: Denoiser? {
    switch self {
    case .partition(let n): return .partition(n)
    case .mdlm(let n): return .mdlm(n)
    case .autoregressive: return nil
    }
  }

  /// The denoiser, or an error that says what the network is instead.
  public func requireDenoiser(_ purpose: String) throws -> Denoiser {
    guard let d = denoiser else {
      throw ConfigError.invalid("\(purpose) needs a partition or MDLM network; this one is the autoregressive evaluator (kind 'ar')")
    }
    return d
  }

  /// The autoregressive evaluator, or an error that says what the network is instead.
  public func requireAutoregressive(_ purpose: String) throws -> DIT {
    guard case .autoregressive(let n) = self else {
      throw ConfigError.invalid("\(purpose) needs an autoregressive evaluator (kind 'ar'); this network is kind '\(config.kind.rawValue)'")
    }
    return n
  }
}

/// The networks that denoise masked sequences: what samplers, teachers and students accept.
public enum Denoiser {
  case partition(PartitionDIT)
  case mdlm(DIT)

  public var config: ModelConfig { network.config }
  public var parameters: ParameterSet { network.parameters }

  public var network: Network {
    switch self {
    case .partition(let n): return .partition(n)
    case .mdlm(let n): return .mdlm(n)
    }
  }
}
