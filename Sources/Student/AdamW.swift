import Foundation
import Engine
import Networks

/// AdamW with global-norm gradient clipping and a linear warm-up, as the released configs use
/// (β = (0.9, 0.999), eps 1e-8, clipping at 1.0, constant learning rate after warm-up).
public struct AdamWSettings: Codable, Equatable, Sendable {
  public var learningRate: Float = 3e-4
  public var warmupSteps: Int = 2500
  public var beta1: Float = 0.9
  public var beta2: Float = 0.999
  public var eps: Float = 1e-8
  public var weightDecay: Float = 0
  public var clipNorm: Float = 1.0
  /// After warm-up: constant (the released configs), or a cosine decay to `minRatio`·lr over
  /// `decaySteps` steps (a better-converged model in a short budget).
  public var schedule: Schedule = .constant
  public var decaySteps: Int = 0
  public var minRatio: Float = 0.1

  public enum Schedule: String, Codable, Sendable { case constant, cosine }

  public init(learningRate: Float = 3e-4, warmupSteps: Int = 2500, weightDecay: Float = 0, clipNorm: Float = 1.0,
              schedule: Schedule = .constant, decaySteps: Int = 0, minRatio: Float = 0.1) {
    self.learningRate = learningRate
    self.warmupSteps = warmupSteps
    self.weightDecay = weightDecay
    self.clipNorm = clipNorm
    self.schedule = schedule
    self.decaySteps = decaySteps
    self.minRatio = minRatio
  }

  enum CodingKeys: String, CodingKey {
    case learningRate = "lr", warmupSteps = "warmup_steps", beta1 = "beta1", beta2 = "beta2", eps
    case weightDecay = "weight_decay", clipNorm = "clip_norm", schedule, decaySteps = "decay_steps", minRatio = "min_lr_ratio"
  }

  public init(from decoder: Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    learningRate = try c.decodeIfPresent(Float.self, forKey: .learningRate) ?? 3e-4
    warmupSteps = try c.decodeIfPresent(Int.self, forKey: .warmupSteps) ?? 2500
    beta1 = try c.decodeIfPresent(Float.self, forKey: .beta1) ?? 0.9
    beta2 = try c.decodeIfPresent(Float.self, forKey: .beta2) ?? 0.999
    eps = try c.decodeIfPresent(Float.self, forKey: .eps) ?? 1e-8
    weightDecay = try c.decodeIfPresent(Float.self, forKey: .weightDecay) ?? 0
    clipNorm = try c.decodeIfPresent(Float.self, forKey: .clipNorm) ?? 1.0
    schedule = try c.decodeIfPresent(Schedule.self, forKey: .schedule) ?? .constant
    decaySteps = try c.decodeIfPresent(Int.self, forKey: .decaySteps) ?? 0
    minRatio = try c.decodeIfPresent(Float.self, forKey: .minRatio) ?? 0.1
  }

  /// Learning rate of the `step`-th optimizer update (1-based), as PyTorch's LambdaLR gives it:
  /// the scheduler's counter is 0 at the first `optimizer.step()` and is advanced after each, so
  /// update k uses lambda(k − 1) — linear warm-up lr·(k − 1)/warmup (the first update has lr 0, as
  /// the reference's `get_constant_schedule_with_warmup`), then constant or cosine-decayed.
  public func learningRate(at step: Int) -> Float {
    let counter = max(step - 1, 0)
    if warmupSteps > 0 && counter < warmupSteps { return learningRate * Float(counter) / Float(warmupSteps) }
    guard schedule == .cosine, decaySteps > 0 else { return learningRate }
    let progress = min(1, Float(counter - warmupSteps) / Float(decaySteps))
    return learningRate * (minRatio + (1 - minRatio) * 0.5 * (1 + cosf(Float.pi * progress)))
  }
}

/// Optimiser state for one parameter set: first and second moments and the step count.
public final class AdamW {
  public let settings: AdamWSettings
  public let parameters: ParameterSet
  public private(set) var m: [Tensor]
  public private(set) var v: [Tensor]
  public private(set) var step = 0

  public init(parameters: ParameterSet, settings: AdamWSettings) {
    self.settings = settings
    self.parameters = parameters
    m = parameters.tensors.map { .zeros($0.shape) }
    v = parameters.tensors.map { .zeros($0.shape) }
  }

  /// Restores state saved by a checkpoint.
  public func restore(step: Int, m: [Tensor], v: [Tensor]) {
    precondition(m.count == self.m.count && v.count == self.v.count)
    for (a, b) in zip(self.m, m) { a.assign(from: b) }
    for (a, b) in zip(self.v, v) { a.assign(from: b) }
    self.step = step
  }

  /// Global L2 norm of the gradients (nil entries: no gradient this step).
  public static func globalNorm(_ gradients: [Tensor?]) -> Double {
    gradients.reduce(0.0) { $0 + ($1.map(OptimizerKernels.sumOfSquares) ?? 0) }.squareRoot()
  }

  /// Applies one update from `gradients` (one per parameter, nil = no gradient this step), clipped
  /// to the configured global norm. Returns the norm before clipping; a non-finite norm leaves the
  /// parameters and the state untouched (the caller stops the run).
  @discardableResult
  public func apply(_ gradients: [Tensor?]) -> Double {
    precondition(gradients.count == parameters.count)
    let norm = AdamW.globalNorm(gradients)
    guard norm.isFinite else { return norm }
    let clip = settings.clipNorm > 0 ? min(1, Double(settings.clipNorm) / (norm + 1e-6)) : 1
    step += 1
    let lr = settings.learningRate(at: step)
    for (i, p) in parameters.tensors.enumerated() {
      guard let grad = gradients[i] else { continue }
      OptimizerKernels.adamW(parameter: p, gradient: grad, m: m[i], v: v[i], lr: lr, beta1: settings.beta1,
                             beta2: settings.beta2, eps: settings.eps, weightDecay: settings.weightDecay,
                             step: step, gradScale: Float(clip))
    }
    return norm
  }
}

/// Exponential moving average of the weights: decay min(0.9999, (1+n)/(10+n)), n counted from 1
/// (the first update uses 2/11), as the reference's EMA. The shadow is a second network's
/// parameters, so it can be evaluated and saved like any network.
public final class WeightAverage {
  public let decay: Float
  public let shadow: ParameterSet
  public private(set) var updates = 0

  /// Starts the average at the current value of `parameters`.
  public init(shadow: ParameterSet, startingFrom parameters: ParameterSet, decay: Float = 0.9999) {
    self.decay = decay
    self.shadow = shadow
    shadow.copy(from: parameters)
  }

  public func restore(updates: Int) { self.updates = updates }

  public func update(from parameters: ParameterSet) {
    updates += 1
    let n = Float(updates)
    let d = min(decay, (1 + n) / (10 + n))
    for (s, p) in zip(shadow.tensors, parameters.tensors) { OptimizerKernels.movingAverage(shadow: s, value: p, decay: d) }
  }
}
