import Checkpoints
import Engine
import Student
import Teacher

/// How a round's student learns (README, "Distillation methods").
public enum DistillMethod: String, Codable, Sendable, CaseIterable {
  /// SDTT (SPEC §6): match the teacher's k-step targets position by position.
  case sdtt
  /// On-policy discrete moment matching against the original teacher (`MomentMatchingTask`).
  case dmmd
}

/// The distillation part of a recipe (SPEC §6).
public struct DistillSpec: Codable, Sendable {
  public var method: DistillMethod = .sdtt
  /// The on-policy method's settings (`method: dmmd`).
  public var dmmd: MomentMatchingSettings?
  /// The public codes mask position 0 (the BOS) in the targets' inputs although every sampler
  /// keeps it clean; false (default) never masks it.
  public var maskBOS = false
  /// Which positions the teacher's steps reveal: random (the ancestral rule) or confidence (the
  /// order a confidence-ordered student samples with).
  public var teacherOrder: RevealOrder = .random
  /// R rounds: the student of round r samples in S0 / k^r steps.
  public var rounds: Int
  /// S0, the teacher's original step count.
  public var s0: Int
  /// Teacher steps per student step.
  public var k: Int = 2
  public var spacing: TeacherSpacing = .even
  /// Where target times are drawn: `uniform` (papers) or `student_grid` (the student's sampling times).
  public var times: TargetTimes = .uniform
  /// Clean sequences whose targets are generated per round (each gets one t and one mask).
  public var targetsPerRound: Int
  /// Top-K log-probabilities stored per masked position (plus the tail mass); K ≥ V−1 is exact.
  public var topK: Int = 64
  public var divergence: Divergence = .reverseKL
  /// The published codes' un-normalised targets (SPEC §6 defect), only to reproduce published runs.
  public var leakyNormalization = false
  /// How the tokens beyond the stored top K count in the student's loss. One bucket by default:
  /// the published uniform spread teaches a student to sample uniformly random tokens when K ≪ V
  /// (measured on GPT-2 BPE, README); both are the same when K ≥ V − 1.
  public var tail: TailTreatment = .bucket
  /// Student optimisation per round (`steps` = optimizer steps per round). AdamW state, EMA and
  /// the schedule carry on across rounds, as in the papers.
  public var student: TrainingSettings
  /// Which weights of the pretrained network start teacher and student (papers: raw).
  public var start: WeightChoice = .raw
  /// Which weights of a round's student become the next teacher (papers: raw).
  public var nextTeacher: WeightChoice = .raw
  /// Which weights of a round's student are evaluated and exported.
  public var evaluate: WeightChoice = .ema

  enum CodingKeys: String, CodingKey {
    case method, dmmd, maskBOS = "mask_bos", teacherOrder = "teacher_order", rounds, s0, k, spacing, times, targetsPerRound = "targets_per_round", topK = "top_k", divergence
    case leakyNormalization = "leaky_normalization", tail, student, start, nextTeacher = "next_teacher", evaluate
  }

  public init(from decoder: Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    method = try c.decodeIfPresent(DistillMethod.self, forKey: .method) ?? .sdtt
    dmmd = try c.decodeIfPresent(MomentMatchingSettings.self, forKey: .dmmd)
    maskBOS = try c.decodeIfPresent(Bool.self, forKey: .maskBOS) ?? false
    teacherOrder = try c.decodeIfPresent(RevealOrder.self, forKey: .teacherOrder) ?? .random
    rounds = try c.decode(Int.self, forKey: .rounds)
    s0 = try c.decode(Int.self, forKey: .s0)
    k = try c.decodeIfPresent(Int.self, forKey: .k) ?? 2
    spacing = try c.decodeIfPresent(TeacherSpacing.self, forKey: .spacing) ?? .even
    times = try c.decodeIfPresent(TargetTimes.self, forKey: .times) ?? .uniform
    targetsPerRound = try c.decode(Int.self, forKey: .targetsPerRound)
    topK = try c.decodeIfPresent(Int.self, forKey: .topK) ?? 64
    divergence = try c.decodeIfPresent(Divergence.self, forKey: .divergence) ?? .reverseKL
    leakyNormalization = try c.decodeIfPresent(Bool.self, forKey: .leakyNormalization) ?? false
    tail = try c.decodeIfPresent(TailTreatment.self, forKey: .tail) ?? .bucket
    student = try c.decode(TrainingSettings.self, forKey: .student)
    start = try c.decodeIfPresent(WeightChoice.self, forKey: .start) ?? .raw
    nextTeacher = try c.decodeIfPresent(WeightChoice.self, forKey: .nextTeacher) ?? .raw
    evaluate = try c.decodeIfPresent(WeightChoice.self, forKey: .evaluate) ?? .ema
  }

  public var normalization: MaskNormalization { leakyNormalization ? .leaky : .normalized }

  /// What the student's loss compares with the stored targets.
  public var objective: DistillationObjective {
    DistillationObjective(divergence: divergence, normalization: normalization, tail: tail)
  }

  /// Student step count of round r (1-based): S0 / k^r.
  public func studentSteps(round r: Int) -> Int {
    var s = s0
    for _ in 0..<r { s /= k }
    return s
  }

  func validate() throws {
    func require(_ ok: Bool, _ m: String) throws { if !ok { throw RecipeError.invalid("distill", m) } }
    try require(rounds >= 1, "rounds must be ≥ 1")
    try require(k >= 2, "k (teacher steps per student step) must be ≥ 2")
    try require(s0 >= 1, "s0 must be ≥ 1")
    var s = s0
    for r in 1...rounds {
      try require(s % k == 0, "impossible schedule: S0 = \(s0) is not divisible by k^\(r) = \(Int(pow(Double(k), Double(r))))"
        + " (round \(r) would need \(s)/\(k) steps)")
      s /= k
    }
    try require(targetsPerRound >= 1, "targets_per_round must be ≥ 1")
    try require(topK >= 1, "top_k must be ≥ 1")
    try student.validate()
    if method == .dmmd {
      guard let dmmd else { throw RecipeError.invalid("distill", "method 'dmmd' needs a 'dmmd' section (e.g. {\"noise\": 1})") }
      try dmmd.validate()
      try require(!dmmd.seedTokens || times == .studentGrid,
                  "dmmd.seed_tokens seeds the student's first step, the rows at t = 1: it needs \"times\": \"student_grid\"")
    }
  }

  /// `variant` with the inputs a round's student was distilled with (its noise scale and seed
  /// tokens, if any); a sampler without them gives such a student a first step it never trained on.
  public func studentSampler(_ variant: SamplerVariant) -> SamplerVariant {
    guard method == .dmmd, let dmmd else { return variant }
    var v = variant
    v.noise = dmmd.noise
    v.seedTokens = dmmd.seedTokens
    return v
  }
}


import Foundation
