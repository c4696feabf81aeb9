import Foundation

/// Progress lines for long jobs: done/total, rate, ETA and a caller's detail, at most one line per
/// `interval` seconds (and always the last). Lines go to a sink (standard error by default) so that
/// standard output stays machine-readable. Shared by training, target generation and evaluation.
public final class ProgressMeter {
  public let label: String
  public let total: Int
  public let unit: String
  private let start: Double
  private var lastPrint = -Double.infinity
  private let interval: Double
  private let sink: (String) -> Void
  private let alreadyDone: Int

  /// `alreadyDone`: work finished before this process started (a resumed job): excluded from the rate.
  public init(label: String, total: Int, unit: String = "steps", alreadyDone: Int = 0, interval: Double = 2,
              sink: @escaping (String) -> Void = ProgressMeter.standardError) {
    self.label = label
    self.total = total
    self.unit = unit
    self.interval = interval
    self.sink = sink
    self.alreadyDone = alreadyDone
    start = Clock.now()
  }

  public static func standardError(_ line: String) {
    FileHandle.standardError.write((line + "\n").data(using: .utf8)!)
  }

  /// Reports `done` units finished; `detail` is appended (e.g. "loss 2.31").
  public func update(_ done: Int, detail: String = "", force: Bool = false) {
    let now = Clock.now()
    guard force || done >= total || now - lastPrint >= interval else { return }
    lastPrint = now
    let elapsed = now - start
    let rate = elapsed > 0 ? Double(done - alreadyDone) / elapsed : 0
    let eta = rate > 0 ? Double(total - done) / rate : .infinity
    var line = "\(label) \(done)/\(total) \(unit)"
    line += String(format: "  %.3g %@/s", rate, unit)
    line += "  elapsed \(ProgressMeter.duration(elapsed))"
    if done < total { line += "  ETA \(ProgressMeter.duration(eta))" }
    if !detail.isEmpty { line += "  " + detail }
    sink(line)
  }

  /// "1h02m", "3m05s", "12.3s".
  public static func duration(_ s: Double) -> String {
    guard s.isFinite else { return "?" }
    if s < 60 { return String(format: "%.1fs", s) }
    let total = Int(s.rounded())
    if total < 3600 { return String(format: "%dm%02ds", total / 60, total % 60) }
    return String(format: "%dh%02dm", total / 3600, (total % 3600) / 60)
  }
}
