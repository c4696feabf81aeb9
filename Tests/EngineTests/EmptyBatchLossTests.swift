import Engine
import Testing

/// A batch in which no position is masked has no distillation rows: every divergence must give a
/// loss of 0 and zero gradients (MSE used to divide by M·V = 0 and return NaN).
@Suite struct EmptyBatchLossTests {
  @Test(arguments: Divergence.allCases)
  func noMaskedPositionGivesZero(_ kind: Divergence) {
    let g = Graph()
    let logits = g.input(Tensor(shape: [0, 7], values: []))
    let targets = SparseDistributions(rows: 0, k: 3, ids: [], logProbs: [], tailLogMass: [])
    let loss = g.distillationLoss(logits, targets: targets, divergence: kind, mask: 6)
    #expect(loss.value.toArray().allSatisfy { $0 == 0 }, "\(kind)")
    g.backward(from: loss)
    #expect((g.gradient(of: logits)?.toArray() ?? []).allSatisfy { $0 == 0 })
  }
}
