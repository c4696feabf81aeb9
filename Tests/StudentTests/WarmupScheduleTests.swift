import Student
import Testing

/// The learning rate of each optimizer update follows PyTorch's LambdaLR as the reference uses it
/// (`get_constant_schedule_with_warmup`): the k-th `optimizer.step()` runs with lr·(k − 1)/warmup
/// during warm-up, so the first update has lr 0 and the full rate is reached at update warmup + 1.
@Suite struct WarmupScheduleTests {
  @Test func warmupMatchesLambdaLR() {
    let s = AdamWSettings(learningRate: 1e-3, warmupSteps: 4)
    let rates = (1...7).map { s.learningRate(at: $0) }
    let expected: [Float] = [0, 0.25e-3, 0.5e-3, 0.75e-3, 1e-3, 1e-3, 1e-3]
    for (a, b) in zip(rates, expected) { #expect(abs(a - b) < 1e-9, "\(rates)") }
  }

  @Test func noWarmupIsConstant() {
    let s = AdamWSettings(learningRate: 2e-3, warmupSteps: 0)
    #expect((1...3).map { s.learningRate(at: $0) } == [2e-3, 2e-3, 2e-3])
  }

  /// Cosine decay counts from the end of warm-up on the same counter (update k uses k − 1).
  @Test func cosineStartsAfterWarmup() {
    let s = AdamWSettings(learningRate: 1, warmupSteps: 2, schedule: .cosine, decaySteps: 4, minRatio: 0)
    #expect(s.learningRate(at: 3) == 1)           // counter 2: progress 0
    #expect(abs(s.learningRate(at: 5) - 0.5) < 1e-6)  // counter 4: progress 1/2
    #expect(abs(s.learningRate(at: 7)) < 1e-6)    // counter 6: progress 1
  }
}
