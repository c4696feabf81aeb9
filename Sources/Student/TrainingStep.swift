import Engine
import Networks

/// One optimizer step, and nothing else: the losses and gradients of its micro-batches, their sum
/// over data-parallel workers (`reducer`), the clipped AdamW update and the EMA. No files, no data
/// order, no logging — the `Trainer` around it owns those.
final class TrainingStep {
  let network: Network
  let average: Network
  let optimizer: AdamW
  let ema: WeightAverage
  let task: TrainingTask
  let reducer: GradientReducer
  let settings: TrainingSettings
  let shapes: [[Int]]

  init(network: Network, settings: TrainingSettings, task: TrainingTask, reducer: GradientReducer) throws {
    self.network = network
    self.settings = settings
    self.task = task
    self.reducer = reducer
    average = try Network(network.config)
    optimizer = AdamW(parameters: network.parameters, settings: settings.optimizer)
    ema = WeightAverage(shadow: average.parameters, startingFrom: network.parameters, decay: settings.emaDecay)
    shapes = network.parameters.tensors.map(\.shape)
  }

  struct Outcome {
    var loss: Double
    var gradientNorm: Double
    /// Some worker was asked to stop (SIGINT/SIGTERM) before this step.
    var stopRequested = false
  }

  enum Failure: Error { case nonFinite(String) }

  /// Runs step `step` (0-based, the one about to be taken) on `batches` (this worker's part of each
  /// micro-batch; `upcoming[i]` are its rows after `batches[i]`, for prefetching), drawing noise
  /// from `rng`. Each micro-batch's loss is weighted by this worker's share of its terms (rows or
  /// masked positions, summed over the workers first), so that the summed gradients are those of
  /// the loss a single worker would compute on the whole batch. `interrupted`: this worker saw a
  /// stop request; the outcome says whether any worker did, so that all stop after the same step.
  func run(step: Int, batches: [BatchPart], upcoming: [[Int]], interrupted: Bool = false,
           rng: inout RandomStream) throws -> Outcome {
    var grads = [Tensor?](repeating: nil, count: network.parameters.count)
    var lossSum = 0.0
    for (micro, part) in batches.enumerated() {
      // Dropout masks are a function of (seed, step, micro-batch): identical after a resume.
      var keyStream = RandomStream(seed: settings.seed ^ (UInt64(step) &* 0x9E37_79B9_7F4A_7C15) ^ UInt64(micro))
      let g = Graph(recording: true, training: true, dropoutSeed: keyStream.next())
      let result = try task.loss(g, network: network, part: part, upcoming: upcoming[micro], rng: &rng)
      let allTerms = try reducer.sum([result.terms ?? 0])[0]
      let share = result.terms.map { allTerms > 0 ? $0 / allTerms : 0 } ?? 1
      let weight = Float(share / Double(batches.count))
      // A non-finite loss is not thrown here: every worker must reach the reduction below (or
      // the others would wait forever); the summed loss carries it to all of them.
      lossSum += Double(result.loss.value[flat: 0]) * Double(weight)
      g.backward(from: result.loss, seed: Tensor.filled([1], weight))
      for (i, p) in network.parameters.tensors.enumerated() {
        guard let grad = g.gradient(ofParameter: p) else { continue }
        if let acc = grads[i] { OptimizerKernels.accumulate(acc, grad) } else { grads[i] = grad }
      }
    }
    try reducer.sumGradients(&grads, shapes: shapes)
    let sums = try reducer.sum([lossSum, interrupted ? 1 : 0])
    let loss = sums[0]
    // The NaN guard is collective: the summed loss and the norm of the summed gradients are the
    // same numbers on every worker, so all stop at the same step.
    guard loss.isFinite else { throw Failure.nonFinite("loss") }
    let norm = optimizer.apply(grads)
    guard norm.isFinite else { throw Failure.nonFinite("gradient norm") }
    ema.update(from: network.parameters)
    return Outcome(loss: loss, gradientNorm: norm, stopRequested: sums[1] > 0)
  }
}
