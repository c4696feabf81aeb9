import Engine
import Foundation
import MaskedDiffusion
import Networks
@testable import Student
import Teacher
import Testing

/// One stored batch, whatever rows are asked for.
final class OneBatch: TargetSource {
  let batch: TargetBatch
  init(_ batch: TargetBatch) { self.batch = batch }
  var rowCount: Int { batch.inputs.shape[0] }
  var length: Int { batch.inputs.shape[1] }
  func batch(rows: [Int]) throws -> TargetBatch { batch }
}

@Suite struct MomentMatchingTests {
  /// The on-policy loss's gradient, by finite differences along a random direction of the
  /// student's weights. Each evaluation uses a fresh task (a fresh auxiliary copy of the teacher,
  /// which the task trains as a side effect) and the same random stream, so the draws are the same
  /// unless a perturbation moves a Gumbel race across a tie (not at this step size).
  /// With `reinforce` the loss carries the score-function term, whose value moves with the
  /// student's log-probabilities of the (fixed) draws: the same check covers its gradient.
  /// With `seeds`, half the rows are at t = 1 and read seed tokens (the first step's latent);
  /// `marginal` adds the first step's pooled-marginal KL (its reported value is the KL itself).
  @Test(arguments: [(0.0, 0.0, 0.0, false, 0.0), (1.0, 0.0, 0.0, false, 0.0), (0.0, 0.5, 0.0, false, 0.0),
                    (1.0, 0.5, 0.0, false, 0.0), (1.0, 0.0, 1.0, false, 0.0), (0.0, 0.5, 2.0, false, 0.0),
                    (0.0, 0.0, 0.0, true, 0.0), (1.0, 0.5, 0.0, true, 0.0), (0.0, 0.0, 0.0, true, 3.0), (0.0, 0.0, 0.0, false, 3.0)])
  func generatorGradientMatchesFiniteDifferences(noise: Double, sdttWeight: Double, reinforce: Double, seeds: Bool,
                                                 marginal: Double) throws {
    let v = 9, l = 10
    let teacher = try randomPartition(vocab: v, length: l, seed: 21)
    let student = try randomPartition(vocab: v, length: l, seed: 22)
    var rng = RandomStream(seed: 23)
    let x0 = TokenTensor(shape: [8, l], values: (0..<(8 * l)).map { _ in Int32(rng.int(below: v - 1)) })
    var settings = TeacherSettings(steps: 2, dt: 0.25, topK: v - 1)
    settings.cleanPrefix = 1
    var batch = TeacherTargets.generate(teacher: .partition(teacher), clean: x0, settings: settings, rng: &rng)
    if seeds || marginal > 0 { for i in 0..<4 { batch.times[i] = 1 } }
    var dmmd = MomentMatchingSettings()
    dmmd.marginal = marginal
    dmmd.seedTokens = seeds
    dmmd.noise = noise
    dmmd.sdttWeight = sdttWeight
    dmmd.reinforce = reinforce
    let auxiliaryStart = try randomPartition(vocab: v, length: l, seed: 26)  // ≠ teacher: the scores are not zero
    func loss(_ g: Graph) throws -> Var {
      let auxiliary = try PartitionDIT(config: teacher.config)
      auxiliary.parameters.copy(from: auxiliaryStart.parameters)
      let task = try MomentMatchingTask(source: OneBatch(batch), teacher: .partition(teacher), auxiliary: .partition(auxiliary),
                                        studentSteps: 2, settings: dmmd, objective: DistillationObjective())
      task.reportsScoreFunctionValue = true
      var stream = RandomStream(seed: 24)
      return try task.loss(g, network: .partition(student), rows: Array(0..<8), upcoming: [], rng: &stream)
    }
    let g = Graph()
    let value = try loss(g)
    g.backward(from: value)
    var dir = RandomStream(seed: 25)
    var directions = student.parameters.tensors.map { t in (0..<t.count).map { _ in Float(dir.normal()) } }
    let norm = Float(directions.joined().reduce(0.0) { $0 + Double($1 * $1) }.squareRoot())
    directions = directions.map { $0.map { $0 / norm } }  // a unit direction: small steps move no draw
    var analytic = 0.0
    for (t, d) in zip(student.parameters.tensors, directions) {
      let grad = g.gradient(ofParameter: t)?.toArray() ?? [Float](repeating: 0, count: t.count)
      analytic += zip(grad, d).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
    }
    let h: Float = 1e-2
    func shifted(_ sign: Float) throws -> Double {
      let saved = student.parameters.tensors.map { $0.toArray() }
      defer { for (t, s) in zip(student.parameters.tensors, saved) { t.assign(s) } }
      for (t, d) in zip(student.parameters.tensors, directions) { t.assign(zip(t.toArray(), d).map { $0 + sign * h * $1 }) }
      return Double(try loss(Graph(recording: false)).value[flat: 0])
    }
    if reinforce > 0 {  // the term is there to check: without it the loss differs
      let withTerm = Double(value.value[flat: 0])
      dmmd.reinforce = 0
      defer { dmmd.reinforce = reinforce }
      #expect(abs(Double(try loss(Graph(recording: false)).value[flat: 0]) - withTerm) > 1e-4)
    }
    if marginal > 0 {  // the term is there: without it the loss differs
      dmmd.marginal = 0
      defer { dmmd.marginal = marginal }
      #expect(abs(Double(try loss(Graph(recording: false)).value[flat: 0]) - Double(value.value[flat: 0])) > 1e-4)
    }
    if seeds {  // the rows at t = 1 read their seeds: without them the loss differs
      dmmd.seedTokens = false
      defer { dmmd.seedTokens = true }
      #expect(abs(Double(try loss(Graph(recording: false)).value[flat: 0]) - Double(value.value[flat: 0])) > 1e-4)
    }
    let numeric = (try shifted(1) - shifted(-1)) / Double(2 * h)
    #expect(abs(analytic) > 1e-3, "a gradient to check")
    #expect(abs(numeric - analytic) <= 2e-2 * max(1, abs(numeric)), "finite differences \(numeric), backward \(analytic)")
  }

  /// With the student equal to the teacher and an auxiliary equal to the teacher, the generator
  /// loss vanishes (log φ − log θ = 0), and so does its gradient.
  @Test func vanishesWhenAuxiliaryEqualsTeacher() throws {
    let v = 9, l = 10
    let teacher = try randomPartition(vocab: v, length: l, seed: 31)
    var rng = RandomStream(seed: 32)
    let x0 = TokenTensor(shape: [4, l], values: (0..<(4 * l)).map { _ in Int32(rng.int(below: v - 1)) })
    let batch = TeacherTargets.generate(teacher: .partition(teacher), clean: x0, settings: TeacherSettings(steps: 2, dt: 0.25, topK: v - 1),
                                        rng: &rng)
    let auxiliary = try PartitionDIT(config: teacher.config)
    auxiliary.parameters.copy(from: teacher.parameters)
    let task = try MomentMatchingTask(source: OneBatch(batch), teacher: .partition(teacher), auxiliary: .partition(auxiliary),
                                      studentSteps: 2, settings: MomentMatchingSettings(), objective: DistillationObjective())
    let g = Graph()
    var stream = RandomStream(seed: 33)
    let value = try task.loss(g, network: .partition(teacher), rows: [0], upcoming: [], rng: &stream)
    #expect(abs(value.value[flat: 0]) < 1e-6)
  }

  /// The score-function term's sign and scale by hand: two rows, one draw each, costs 2 and 0, so
  /// A = ±2; with |Q| = 4 and weight 1 the term is (1/4)·Σ A·log p(x), and its gradient raises the
  /// logit of the cheap row's draw and lowers the costly row's (descent makes it less likely).
  @Test func scoreFunctionTermPenalisesCostlyDraws() {
    let g = Graph()
    let z: [Float] = [0.5, -1, 2, 0, /* row 1 */ 1, 0, -0.5, 0]
    let logits = g.input(Tensor(shape: [2, 4], values: z))
    let term = MomentMatchingTask.scoreFunctionTerm(g, logits, revealed: [(0, 0, 2), (1, 1, 0)], rowCost: [2, 0],
                                                    queried: [0, 1], queryCount: 4, weight: 1, mask: 3)
    func logP(_ row: Int, _ c: Int) -> Double {
      let zs = z[(row * 4)..<(row * 4 + 3)].map { Double($0) }  // the mask column (3) is excluded
      return Double(z[row * 4 + c]) - Foundation.log(zs.map { Foundation.exp($0) }.reduce(0, +))
    }
    let expected = 0.25 * (2 * logP(0, 2) - 2 * logP(1, 0))
    #expect(abs(Double(term.value[flat: 0]) - expected) < 1e-5)
    g.backward(from: term)
    let grad = g.gradient(of: logits)!.toArray()
    #expect(grad[2] > 0, "the costly row's draw: a descent step lowers its logit")
    #expect(grad[4] < 0, "the cheap row's draw: a descent step raises its logit")
    #expect(grad[3] == 0 && grad[7] == 0, "the mask column")
  }

  /// The reported loss leaves the score-function surrogate's value out; its gradient stays.
  @Test func reportedLossLeavesTheSurrogateValueOut() throws {
    let g = Graph()
    let logits = g.input(Tensor(shape: [2, 4], values: [0.5, -1, 2, 0, 1, 0, -0.5, 0]))
    let term = MomentMatchingTask.scoreFunctionTerm(g, logits, revealed: [(0, 0, 2), (1, 1, 0)], rowCost: [2, 0],
                                                    queried: [0, 1], queryCount: 4, weight: 1, mask: 3, centred: true)
    #expect(abs(term.value[flat: 0]) < 1e-6)
    g.backward(from: term)
    #expect(g.gradient(of: logits)!.toArray()[2] > 0)
  }
}
