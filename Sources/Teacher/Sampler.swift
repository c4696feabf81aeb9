import Engine
import MaskedDiffusion
import Networks

/// A generator of token sequences from a trained network: the partition sampler or MDLM ancestral.
///
/// All randomness comes from the `rng` passed in: each row takes its own stream, seeded by the
/// next value of `rng` in row order, so a sample depends only on the seed and its index — not on
/// the batch size — and two calls with the same stream continue where the first stopped
/// (`sample(count: 4)` equals `sample(count: 2)` twice).
public protocol Sampler {
  /// The network's hyper-parameters (length L, vocabulary V, mask id).
  var config: ModelConfig { get }

  /// One sample per prefix (known tokens at positions 0..<prefix.count, BOS first), in `steps`
  /// steps; `options.prefix` is not used here. `progress` hears the number of finished samples
  /// after every batch.
  func generate(prefixes: [[Int32]], steps: Int, rng: inout RandomStream, options: SamplingOptions,
                progress: ((Int) -> Void)?) throws -> SamplingRun
}

extension Sampler {
  /// One sample per prefix, without progress reports.
  public func generate(prefixes: [[Int32]], steps: Int, rng: inout RandomStream,
                       options: SamplingOptions) throws -> SamplingRun {
    try generate(prefixes: prefixes, steps: steps, rng: &rng, options: options, progress: nil)
  }

  /// `count` samples conditioned on `options.prefix` (at least the BOS).
  public func sample(count: Int, steps: Int, rng: inout RandomStream, options: SamplingOptions) throws -> [[Int32]] {
    try generate(count: count, steps: steps, rng: &rng, options: options).samples
  }

  /// `count` samples conditioned on `options.prefix`, with the cost of producing them.
  public func generate(count: Int, steps: Int, rng: inout RandomStream, options: SamplingOptions,
                       progress: ((Int) -> Void)? = nil) throws -> SamplingRun {
    guard count >= 0 else { throw SamplingError.invalidCount(count) }
    return try generate(prefixes: Array(repeating: options.prefix, count: count), steps: steps, rng: &rng,
                        options: options, progress: progress)
  }
}

/// Samples and what they cost.
public struct SamplingRun: Sendable {
  /// One sequence of L token ids per requested row, in request order.
  public var samples: [[Int32]]
  /// Network calls made (each over a whole batch).
  public var networkPasses: Int
  /// Analytic FLOPs of those calls (`FlopCount`, with the shapes actually computed, padding included).
  public var flops: Double
}

/// The sampler that fits a network: partition networks get the partition sampler, MDLM networks
/// ancestral sampling.
public func makeSampler(for network: Denoiser) throws -> any Sampler {
  switch network {
  case .partition(let pgm): return PartitionSampler(network: pgm)
  case .mdlm(let dit): return try MDLMSampler(network: dit)
  }
}

/// What one batch produced.
struct BatchOutcome {
  var samples: [[Int32]]
  var passes = 0
  var flops = 0.0
}

/// Checks a request, gives every row its stream, and runs `batch` over consecutive groups of
/// `options.batchSize` rows.
func runInBatches(prefixes: [[Int32]], steps: Int, rng: inout RandomStream, options: SamplingOptions,
                  config: ModelConfig, progress: ((Int) -> Void)?,
                  batch: ([[Int32]], inout [RandomStream]) throws -> BatchOutcome) throws -> SamplingRun {
  try options.validate(steps: steps)
  for p in prefixes { try SamplingOptions.validatePrefix(p, config: config) }
  var streams = prefixes.map { _ in RandomStream(seed: rng.next()) }
  var run = SamplingRun(samples: [], networkPasses: 0, flops: 0)
  run.samples.reserveCapacity(prefixes.count)
  var start = 0
  while start < prefixes.count {
    let end = min(start + options.batchSize, prefixes.count)
    var rowStreams = Array(streams[start..<end])
    let outcome = try batch(Array(prefixes[start..<end]), &rowStreams)
    streams.replaceSubrange(start..<end, with: rowStreams)
    run.samples += outcome.samples
    run.networkPasses += outcome.passes
    run.flops += outcome.flops
    start = end
    progress?(end)
  }
  return run
}
