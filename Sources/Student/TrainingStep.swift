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
  }

  enum Failure: Error { case nonFinite(String) }

  /// Runs step `step` (0-based, the one about to be taken) on `batches` (one list of rows per
  /// micro-batch; `upcoming[i]` are the rows after `batches[i]`, for prefetching), drawing noise
  /// from `rng`. `share` is this worker's fraction of the global batch, so that summed gradients
  /// are those of the global mean loss.
  func run(step: Int, batches: [[Int]], upcoming: [[Int]], share: Double, rng: inout RandomStream) throws -> Outcome {
    var grads = [Tensor?](repeating: nil, count: network.parameters.count)
    var lossSum = 0.0
    let weight = Float(share / Double(batches.count))
    for (micro, rows) in batches.enumerated() {
      // Dropout masks are a function of (seed, step, micro-batch): identical after a resume.
      var keyStream = RandomStream(seed: settings.seed ^ (UInt64(step) &* 0x9E37_79B9_7F4A_7C15) ^ UInt64(micro))
      let g = Graph(recording: true, training: true, dropoutSeed: keyStream.next())
      let lossVar = try task.loss(g, network: network, rows: rows, upcoming: upcoming[micro], rng: &rng)
      // A non-finite loss is not thrown here: every worker must reach the reduction below (or
      // the others would wait forever); the summed loss carries it to all of them.
      lossSum += Double(lossVar.value[flat: 0]) * Double(weight)
      g.backward(from: lossVar, seed: Tensor.filled([1], weight))
      for (i, p) in network.parameters.tensors.enumerated() {
        guard let grad = g.gradient(ofParameter: p) else { continue }
        if let acc = grads[i] { OptimizerKernels.accumulate(acc, grad) } else { grads[i] = grad }
      }
    }
    try reducer.sumGradients(&grads, shapes: shapes)
    let loss = try reducer.sum([lossSum])[0]
    guard loss.isFinite else { throw Failure.nonFinite("loss") }
    let norm = optimizer.apply(grads)
    guard norm.isFinite else { throw Failure.nonFinite("gradient norm") }
    ema.update(from: network.parameters)
    return Outcome(loss: loss, gradientNorm: norm)
  }
}
