import Engine
import Foundation
import MaskedDiffusion
import Networks

/// `pgm bench sample`: the partition sampler against MDLM ancestral sampling at the same width,
/// L = 1024, 128 steps, batch 1 (latency) and batch 8 (throughput), measured in one process, with
/// the speed-up the analytic FLOP counts predict.
public struct SamplingBenchmark {
  public struct Figures: Codable {
    public var length: Int
    public var steps: Int
    public var batch: Int
    /// Raw `cblas_sgemm` 2048³ in this process, and the 1-minute load average before and after
    /// the run: how much of the shared machine this run had.
    public var sgemmGFLOPs: Double
    public var loadAverageBefore: Double
    public var loadAverageAfter: Double
    /// Analytic FLOPs of one sample (batch 1) for each sampler, and their ratio (MDLM / partition).
    public var pgmFLOPs: Double
    public var mdlmFLOPs: Double
    public var flopRatio: Double
    /// Batch 1: best wall time of one sample, and the spread over the repeats (worst / best).
    public var pgmLatencySeconds: Double
    public var mdlmLatencySeconds: Double
    public var pgmLatencySpread: Double
    public var mdlmLatencySpread: Double
    /// MDLM time / partition time: the median over the interleaved pairs. On a machine shared
    /// with other work the two best times can come from different load windows, while the two
    /// runs of a pair are seconds apart; `latency_best_ratio` is the ratio of the best times.
    public var latencyRatio: Double
    public var latencyBestRatio: Double
    /// Process CPU time (user + system, all threads) of the best batch-1 runs, and their ratio: less
    /// sensitive than wall time to other processes on the machine (but it counts spin-waiting).
    public var pgmLatencyCPUSeconds: Double
    public var mdlmLatencyCPUSeconds: Double
    public var latencyCPURatio: Double
    /// MDLM time / partition time of each interleaved batch-1 pair: with other processes on the
    /// machine the spread of these says how far to trust `latency_ratio`.
    public var latencyPairRatios: [Double]
    /// Batch `batch`: generated tokens (batch × L) per second, best run.
    public var pgmTokensPerSecond: Double
    public var mdlmTokensPerSecond: Double
    public var throughputRatio: Double
    /// Analytic FLOPs over wall time: how well each sampler uses the machine. The counts are those
    /// of the published computation; the partition sampler's decoder does fewer products than that
    /// (values applied after the attention weights, `keyValueAttention`: about 5% of its count at
    /// these sizes), so its figure is an effective rate.
    public var pgmLatencyGFLOPs: Double
    public var mdlmLatencyGFLOPs: Double
    public var pgmThroughputGFLOPs: Double
    public var mdlmThroughputGFLOPs: Double
    /// Network calls per sample at batch 1.
    public var pgmPasses: Int
    public var mdlmPasses: Int
    /// The partition sampler's first `pgmFewRowPasses` passes at batch 1 (few clean tokens, 8 query
    /// rows: per-op overhead rather than arithmetic), best over the latency runs: wall seconds
    /// until their logits are ready (their draws included), analytic FLOPs and GFLOP/s, and that
    /// rate as a fraction of raw sgemm.
    public var pgmFewRowPasses: Int
    public var pgmFewRowSeconds: Double
    public var pgmFewRowFLOPs: Double
    public var pgmFewRowGFLOPs: Double
    public var pgmFewRowSgemmFraction: Double
    /// The public PyTorch code on this machine kind (2 threads), one sample of 1024 tokens in 128
    /// steps, as quoted in the task that set these targets; and our speed-up over it. Only for
    /// 128 steps (absent otherwise).
    public var pytorchPgmLatencySeconds: Double?
    public var pytorchMdlmLatencySeconds: Double?
    public var pgmSpeedupOverPytorch: Double?
    public var mdlmSpeedupOverPytorch: Double?

    enum CodingKeys: String, CodingKey {
      case length, steps, batch, sgemmGFLOPs = "sgemm_gflops"
      case loadAverageBefore = "load_average_before", loadAverageAfter = "load_average_after"
      case pgmFLOPs = "pgm_flop", mdlmFLOPs = "mdlm_flop", flopRatio = "flop_ratio"
      case pgmLatencySeconds = "pgm_latency_s", mdlmLatencySeconds = "mdlm_latency_s"
      case pgmLatencySpread = "pgm_latency_spread", mdlmLatencySpread = "mdlm_latency_spread"
      case latencyRatio = "latency_ratio", latencyBestRatio = "latency_best_ratio"
      case pgmLatencyCPUSeconds = "pgm_latency_cpu_s", mdlmLatencyCPUSeconds = "mdlm_latency_cpu_s"
      case latencyCPURatio = "latency_cpu_ratio", latencyPairRatios = "latency_pair_ratios"
      case pgmTokensPerSecond = "pgm_tokens_per_s", mdlmTokensPerSecond = "mdlm_tokens_per_s"
      case throughputRatio = "throughput_ratio"
      case pgmLatencyGFLOPs = "pgm_latency_gflops", mdlmLatencyGFLOPs = "mdlm_latency_gflops"
      case pgmThroughputGFLOPs = "pgm_throughput_gflops", mdlmThroughputGFLOPs = "mdlm_throughput_gflops"
      case pgmPasses = "pgm_passes", mdlmPasses = "mdlm_passes"
      case pgmFewRowPasses = "pgm_few_row_passes", pgmFewRowSeconds = "pgm_few_row_s"
      case pgmFewRowFLOPs = "pgm_few_row_flop", pgmFewRowGFLOPs = "pgm_few_row_gflops"
      case pgmFewRowSgemmFraction = "pgm_few_row_sgemm_fraction"
      case pytorchPgmLatencySeconds = "pytorch_pgm_latency_s", pytorchMdlmLatencySeconds = "pytorch_mdlm_latency_s"
      case pgmSpeedupOverPytorch = "pgm_speedup_over_pytorch", mdlmSpeedupOverPytorch = "mdlm_speedup_over_pytorch"
    }
  }

  /// Same width for both: D = 256, 4 heads, C = 128, V = 2049, L = 1024; partition 6 + 6 blocks
  /// (learn+freqs, linear), MDLM 12 blocks.
  public static let partitionConfig = ModelConfig(kind: .pgm, vocabSize: 2049, hiddenSize: 256, heads: 4, condDim: 128,
                                                  length: 1024, encoderBlocks: 6, decoderBlocks: 6,
                                                  preQueryMode: .learnFreqs, queryProcessMode: .linear, dropout: 0)
  public static let mdlmConfig = ModelConfig(kind: .mdlm, vocabSize: 2049, hiddenSize: 256, heads: 4, condDim: 128,
                                             length: 1024, blocks: 12, dropout: 0)

  /// Seconds for one 1024-token sample in 128 steps with the public PyTorch code on this machine
  /// kind (2 threads), as given with the task that set the targets (not measured here).
  public static let pytorchLatency = (partition: 7.6, mdlm: 32.0)

  public var steps = 128
  public var batch = 8
  /// Timed batch-1 runs of each sampler (interleaved, so both see the same load).
  public var latencyRepeats = 3
  /// Timed batch-`batch` runs of each sampler.
  public var throughputRepeats = 1
  /// Passes counted as the partition sampler's few-row steps (clean sets of 1…121 tokens at
  /// L/S = 8).
  public var fewRowPasses = 16

  public init() {}

  /// The analytic FLOPs of one uniform partition run and one MDLM run at `batch`:
  ///
  /// - partition, n = L/S: step i encodes the BOS and the n·i tokens revealed before it (clean =
  ///   1 + n·i) and decodes the n positions it reveals (n − 1 at the last step, which has only
  ///   L − 1 − n(S − 1) left; no pass when that is 0), so the sum is Σ_i
  ///   `partitionInference(clean: 1 + n·i, queries: n_i)`; the encoder term grows with i, which is
  ///   where the saving over MDLM comes from (on average half the sequence, and no output layer
  ///   or decoder over the clean tokens).
  /// - MDLM: every step that unmasks something runs the whole network on L tokens: S × `dit(L)`.
  ///   (At L = 1024 every one of the S steps unmasks about L/S tokens per row; the final step at
  ///   t = 1e-5 finds a masked position with probability ~1e-5 per position and almost never runs.)
  public static func predictedFLOPs(partition pc: ModelConfig, mdlm mc: ModelConfig, steps: Int,
                                    batch: Int) -> (partition: Double, mdlm: Double) {
    let l = pc.length, n = l / steps
    var partition = 0.0
    for i in 0..<steps {
      let queries = i == steps - 1 ? (l - 1) - n * (steps - 1) : n
      if queries > 0 {
        partition += FlopCount.partitionInference(pc, batch: batch, clean: 1 + n * i, queries: queries)
      }
    }
    return (partition, Double(steps) * FlopCount.dit(mc, batch: batch, length: mc.length))
  }

  /// The two benchmark samplers, every weight N(0, 0.02²): the adaLN and output layers are
  /// zero-initialised, and would make whole branches trivially zero.
  public static func samplers() throws -> (partition: PartitionSampler, mdlm: MDLMSampler) {
    var weights = RandomStream(seed: 2)
    let pgm = try partitionSampler(weights: &weights)
    let mdlm = try MDLMSampler(network: try DIT(config: mdlmConfig, seed: 1))
    randomize(mdlm.network.parameters, &weights)
    return (pgm, mdlm)
  }

  /// The benchmark's partition sampler alone (the same weights as `samplers()`), optionally for
  /// another sequence length (profiling: L = 128 in 16 steps runs exactly the shapes of the first
  /// 16 steps at L = 1024; no parameter depends on L).
  public static func partitionSampler(length: Int? = nil) throws -> PartitionSampler {
    var weights = RandomStream(seed: 2)
    return try partitionSampler(length: length, weights: &weights)
  }

  static func partitionSampler(length: Int? = nil, weights: inout RandomStream) throws -> PartitionSampler {
    var config = partitionConfig
    if let length { config.length = length }
    let pgm = PartitionSampler(network: try PartitionDIT(config: config, seed: 1))
    randomize(pgm.network.parameters, &weights)
    return pgm
  }

  static func randomize(_ set: ParameterSet, _ weights: inout RandomStream) {
    for t in set.tensors { t.assign((0..<t.count).map { _ in Float(weights.normal()) * 0.02 }) }
  }

  /// One timed `generate` call of `count` unconditional samples.
  public struct Timing {
    public var seconds: Double
    public var cpuSeconds: Double
    public var run: SamplingRun
    /// Partition sampler: wall and process CPU seconds from the start until each pass's logits
    /// were ready, and each pass's analytic FLOPs (empty for MDLM).
    public var passEnds: [Double] = []
    public var passCPUEnds: [Double] = []
    public var passFLOPs: [Double] = []
    /// With `hashOutputs`: FNV-1a of every pass's logits (bit patterns, partition only) and of the
    /// samples, to check that a change leaves both bit-identical.
    public var logitsHash: UInt64 = 0
    public var samplesHash: UInt64 = 0

    /// Seconds, CPU seconds and FLOPs of the first `n` passes (nil when the run made fewer).
    public func firstPasses(_ n: Int) -> (seconds: Double, cpuSeconds: Double, flops: Double)? {
      guard n >= 1 && passEnds.count >= n else { return nil }
      return (passEnds[n - 1], passCPUEnds[n - 1], passFLOPs[..<n].reduce(0, +))
    }
  }

  /// `prefixLength` known tokens (the BOS and fixed filler tokens) start every row (profiling the
  /// late steps: a 960-token prefix in 8 steps runs the shapes of the last 8 steps at L = 1024).
  public static func timed(_ sampler: any Sampler, count: Int, batch: Int, steps: Int, seed: UInt64,
                           prefixLength: Int = 1, hashOutputs: Bool = false) throws -> Timing {
    var rng = RandomStream(seed: seed)
    let bos = Int32(sampler.config.maskIndex - 1)  // as GPT-2: end-of-text just below the mask
    let prefix = [bos] + (1..<max(1, prefixLength)).map { Int32(($0 &* 7919) % (sampler.config.maskIndex - 1)) }
    let options = SamplingOptions(prefix: prefix, batchSize: batch)
    var ends: [Double] = [], cpuEnds: [Double] = [], flops: [Double] = []
    var logitsHash: UInt64 = 0xCBF2_9CE4_8422_2325
    @inline(__always) func mix(_ h: inout UInt64, _ x: UInt32) { h = (h ^ UInt64(x)) &* 0x100_0000_01B3 }
    ends.reserveCapacity(4 * steps); cpuEnds.reserveCapacity(4 * steps); flops.reserveCapacity(4 * steps)
    let c0 = processCPUSeconds(), t0 = Clock.now()
    let run: SamplingRun
    if let pgm = sampler as? PartitionSampler {
      run = try pgm.generate(prefixes: Array(repeating: prefix, count: count), steps: steps, rng: &rng, options: options,
                             progress: nil) { pass in
        ends.append(Clock.now() - t0)
        cpuEnds.append(processCPUSeconds() - c0)
        flops.append(FlopCount.partitionInference(pgm.config, batch: pass.packed.lengths.count,
                                                  clean: pass.packed.tokens.shape[1],
                                                  queries: pass.packed.queryPositions.shape[1]))
        if hashOutputs { pass.logits.withUnsafeBufferPointer { for x in $0 { mix(&logitsHash, x.bitPattern) } } }
      }
    } else {
      run = try sampler.generate(count: count, steps: steps, rng: &rng, options: options)
    }
    var t = Timing(seconds: Clock.now() - t0, cpuSeconds: processCPUSeconds() - c0, run: run, passEnds: ends,
                   passCPUEnds: cpuEnds, passFLOPs: flops)
    if hashOutputs {
      var h: UInt64 = 0xCBF2_9CE4_8422_2325
      for row in run.samples { for x in row { mix(&h, UInt32(bitPattern: x)) } }
      t.logitsHash = logitsHash
      t.samplesHash = h
    }
    return t
  }

  /// User + system time of every thread of this process.
  static func processCPUSeconds() -> Double {
    var usage = rusage()
    #if os(Linux)
    getrusage(RUSAGE_SELF.rawValue, &usage)
    #else
    getrusage(RUSAGE_SELF, &usage)
    #endif
    func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) * 1e-6 }
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
  }

  static func median(_ x: [Double]) -> Double {
    let s = x.sorted(), n = s.count
    return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2
  }

  /// The 1-minute load average (Linux), or −1 when unavailable.
  static func loadAverage() -> Double {
    guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8),
          let first = text.split(separator: " ").first, let value = Double(first) else { return -1 }
    return value
  }

  public func run(progress: (String) -> Void = { _ in }) throws -> Figures {
    let loadBefore = Self.loadAverage()
    progress("sgemm 2048³ …")
    let sgemm = GEMMBenchmark.squareGFLOPs(n: 2048, repeats: 3)
    let (pgm, mdlm) = try Self.samplers()
    let l = Self.partitionConfig.length

    // Warm-up: fills the buffer pool with the large shapes of both networks.
    progress("warm-up …")
    _ = try Self.timed(pgm, count: 1, batch: 1, steps: 8, seed: 0)
    _ = try Self.timed(mdlm, count: 1, batch: 1, steps: 2, seed: 0)

    /// Interleaved repeats (partition, MDLM, partition, …) so that both see the same load.
    func measure(_ label: String, count: Int, repeats: Int, seed: UInt64) throws -> (pgm: [Timing], mdlm: [Timing]) {
      var p: [Timing] = [], m: [Timing] = []
      for r in 0..<max(1, repeats) {
        progress("\(label) \(r + 1)/\(repeats): partition …")
        p.append(try Self.timed(pgm, count: count, batch: count, steps: steps, seed: seed + UInt64(r)))
        progress(String(format: "  %.2f s (CPU %.2f s); MDLM …", p.last!.seconds, p.last!.cpuSeconds))
        m.append(try Self.timed(mdlm, count: count, batch: count, steps: steps, seed: seed + UInt64(r)))
        progress(String(format: "  %.2f s (CPU %.2f s)", m.last!.seconds, m.last!.cpuSeconds))
      }
      return (p, m)
    }
    let latency = try measure("latency", count: 1, repeats: latencyRepeats, seed: 10)
    let throughput = try measure("throughput (batch \(batch))", count: batch, repeats: throughputRepeats, seed: 20)

    func fastest(_ t: [Timing]) -> Timing { t.min { $0.seconds < $1.seconds }! }
    let predicted = Self.predictedFLOPs(partition: Self.partitionConfig, mdlm: Self.mdlmConfig, steps: steps, batch: 1)
    let pl = fastest(latency.pgm), ml = fastest(latency.mdlm)
    let pt = fastest(throughput.pgm), mt = fastest(throughput.mdlm)
    let pgmTok = Double(batch * l) / pt.seconds, mdlmTok = Double(batch * l) / mt.seconds
    let fewRow = latency.pgm.compactMap { $0.firstPasses(fewRowPasses) }.min { $0.seconds < $1.seconds }
      ?? (seconds: .nan, cpuSeconds: .nan, flops: .nan)
    return Figures(
      length: l, steps: steps, batch: batch, sgemmGFLOPs: sgemm, loadAverageBefore: loadBefore,
      loadAverageAfter: Self.loadAverage(),
      pgmFLOPs: predicted.partition, mdlmFLOPs: predicted.mdlm, flopRatio: predicted.mdlm / predicted.partition,
      pgmLatencySeconds: pl.seconds, mdlmLatencySeconds: ml.seconds,
      pgmLatencySpread: latency.pgm.map(\.seconds).max()! / pl.seconds,
      mdlmLatencySpread: latency.mdlm.map(\.seconds).max()! / ml.seconds,
      latencyRatio: Self.median(zip(latency.mdlm, latency.pgm).map { $0.seconds / $1.seconds }),
      latencyBestRatio: ml.seconds / pl.seconds,
      pgmLatencyCPUSeconds: pl.cpuSeconds, mdlmLatencyCPUSeconds: ml.cpuSeconds,
      latencyCPURatio: ml.cpuSeconds / pl.cpuSeconds,
      latencyPairRatios: zip(latency.mdlm, latency.pgm).map { $0.seconds / $1.seconds },
      pgmTokensPerSecond: pgmTok, mdlmTokensPerSecond: mdlmTok, throughputRatio: pgmTok / mdlmTok,
      // The runs' own FLOPs (the passes actually made) over their wall time.
      pgmLatencyGFLOPs: pl.run.flops / pl.seconds / 1e9, mdlmLatencyGFLOPs: ml.run.flops / ml.seconds / 1e9,
      pgmThroughputGFLOPs: pt.run.flops / pt.seconds / 1e9, mdlmThroughputGFLOPs: mt.run.flops / mt.seconds / 1e9,
      pgmPasses: pl.run.networkPasses, mdlmPasses: ml.run.networkPasses,
      pgmFewRowPasses: fewRowPasses, pgmFewRowSeconds: fewRow.seconds, pgmFewRowFLOPs: fewRow.flops,
      pgmFewRowGFLOPs: fewRow.flops / fewRow.seconds / 1e9, pgmFewRowSgemmFraction: fewRow.flops / fewRow.seconds / 1e9 / sgemm,
      pytorchPgmLatencySeconds: steps == 128 ? Self.pytorchLatency.partition : nil,
      pytorchMdlmLatencySeconds: steps == 128 ? Self.pytorchLatency.mdlm : nil,
      pgmSpeedupOverPytorch: steps == 128 ? Self.pytorchLatency.partition / pl.seconds : nil,
      mdlmSpeedupOverPytorch: steps == 128 ? Self.pytorchLatency.mdlm / ml.seconds : nil)
  }
}
