import Engine
import Networks

/// `pgm bench train`: throughput of the partition network's forward and training step against
/// the BLAS's own square-product speed, measured in one process.
public struct TrainingBenchmark {
  public struct Figures: Codable {
    public var sgemmGFLOPs: Double
    public var forwardFLOPs: Double
    public var forwardSeconds: Double
    public var forwardTokensPerSecond: Double
    public var forwardGFLOPs: Double
    public var forwardMFU: Double
    public var stepSeconds: Double
    public var tokensPerSecond: Double
    public var gflops: Double
    public var mfu: Double

    enum CodingKeys: String, CodingKey {
      case sgemmGFLOPs = "sgemm_gflops", forwardFLOPs = "forward_flop", forwardSeconds = "forward_s"
      case forwardTokensPerSecond = "forward_tokens_per_s", forwardGFLOPs = "forward_gflops", forwardMFU = "forward_mfu"
      case stepSeconds = "step_s", tokensPerSecond = "tokens_per_s", gflops, mfu
    }
  }

  /// The bench config: D=256, 4 heads, 4+4 blocks, L=256, V=2049, batch 8, learn+freqs.
  public static let benchConfig = ModelConfig(kind: .pgm, vocabSize: 2049, hiddenSize: 256, heads: 4, condDim: 128,
                                              length: 256, encoderBlocks: 4, decoderBlocks: 4,
                                              preQueryMode: .learnFreqs, queryProcessMode: .linear, dropout: 0.1)

  public var config = TrainingBenchmark.benchConfig
  public var batch = 8
  public var repeats = 5

  public init() {}

  public func run(progress: (String) -> Void = { _ in }) throws -> Figures {
    progress("sgemm 2048³ …")
    let sgemm = GEMMBenchmark.squareGFLOPs(n: 2048, repeats: 5)
    let net = try PartitionDIT(config: config, seed: 1)
    // Non-zero adaLN / output weights, so no branch is trivially zero.
    var rng = RandomStream(seed: 2)
    for t in net.parameters.tensors { t.assign((0..<t.count).map { _ in Float(rng.normal()) * 0.02 }) }
    let l = config.length
    let tokens = TokenTensor(shape: [batch, l], values: (0..<(batch * l)).map { _ in Int32(rng.int(below: config.vocabSize - 1)) })
    let t = (0..<batch).map { _ in 0.05 + 0.9 * rng.uniformDouble() }
    var groups = TokenTensor(shape: [batch, l], repeating: 0)
    for i in 0..<batch { for j in 0..<l { groups[i, j] = rng.uniformDouble() < t[i] ? 1 : 0 } }
    let flops = FlopCount.partitionTraining(config, batch: batch, length: l)
    let optimizer = AdamW(parameters: net.parameters, settings: AdamWSettings(warmupSteps: 0))

    func forward() {
      let g = Graph(recording: false)
      _ = DiffusionLoss.partition(g, network: net, tokens: tokens, groups: groups, t: t).loss
    }
    func step() {
      let g = Graph(recording: true, training: true, dropoutSeed: 3)
      let loss = DiffusionLoss.partition(g, network: net, tokens: tokens, groups: groups, t: t).loss
      g.backward(from: loss)
      optimizer.apply(net.parameters.tensors.map { g.gradient(ofParameter: $0) })
    }
    progress("forward …")
    let fwd = Self.best(repeats) { forward() }
    progress("training step …")
    let train = Self.best(repeats) { step() }
    let n = Double(batch * l)
    return Figures(sgemmGFLOPs: sgemm, forwardFLOPs: flops, forwardSeconds: fwd, forwardTokensPerSecond: n / fwd,
                   forwardGFLOPs: flops / fwd / 1e9, forwardMFU: flops / fwd / 1e9 / sgemm, stepSeconds: train,
                   tokensPerSecond: n / train, gflops: 3 * flops / train / 1e9, mfu: 3 * flops / train / 1e9 / sgemm)
  }

  /// Best wall time of `repeats` runs after one warm-up (warm-up fills the buffer pool).
  static func best(_ repeats: Int, _ body: () -> Void) -> Double {
    body()
    var best = Double.infinity
    for _ in 0..<max(1, repeats) {
      let t0 = Clock.now()
      body()
      best = min(best, Clock.now() - t0)
    }
    return best
  }
}
