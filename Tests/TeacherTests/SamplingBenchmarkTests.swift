import Engine
import Networks
@testable import Teacher
import Testing

/// The benchmark's analytic prediction is the sum of the FLOPs of the passes the samplers run.
@Suite struct SamplingBenchmarkTests {
  @Test func predictedPartitionFLOPsAreThePassesRun() throws {
    let net = TinyNetworks.partition(length: 16)
    var rng = RandomStream(seed: 1)
    for steps in [1, 4, 16] {
      let run = try PartitionSampler(network: net).generate(count: 2, steps: steps, rng: &rng,
                                                            options: SamplingOptions(bos: 0, batchSize: 2))
      let predicted = SamplingBenchmark.predictedFLOPs(partition: net.config, mdlm: TinyNetworks.mdlmConfig(length: 16),
                                                       steps: steps, batch: 2)
      #expect(abs(run.flops - predicted.partition) <= 1e-9 * predicted.partition, "S = \(steps)")
      #expect(run.networkPasses == (steps == 16 ? 15 : steps))
    }
  }

  /// At the benchmark's configuration the count predicts a speed-up of about 4.2.
  @Test func benchmarkFLOPRatio() {
    let p = SamplingBenchmark.predictedFLOPs(partition: SamplingBenchmark.partitionConfig,
                                             mdlm: SamplingBenchmark.mdlmConfig, steps: 128, batch: 1)
    #expect(p.mdlm / p.partition > 4.1 && p.mdlm / p.partition < 4.3, "ratio \(p.mdlm / p.partition)")
    #expect(p.mdlm == 128 * FlopCount.dit(SamplingBenchmark.mdlmConfig, batch: 1, length: 1024))
  }
}
