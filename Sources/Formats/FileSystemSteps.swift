// Every durable change a run makes to its folder (a file renamed into place, rows committed, a
// manifest written or withdrawn) is a numbered step. Tests use the numbering to kill a run at
// each step in turn (`PGM_KILL_AT_STEP=N`: SIGKILL right after step N) and to list the steps
// (`PGM_TRACE_STEPS=1`: one "PGM-STEP n label" line per step on standard error).
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public enum FileSystemSteps {
  nonisolated(unsafe) private static var count = 0
  private static let lock = NSLock()
  private static let killAt: Int? = ProcessInfo.processInfo.environment["PGM_KILL_AT_STEP"].flatMap { Int($0) }
  private static let trace = ProcessInfo.processInfo.environment["PGM_TRACE_STEPS"] != nil

  /// Records one step (after it happened).
  public static func step(_ label: @autoclosure () -> String) {
    guard killAt != nil || trace else { return }
    lock.lock()
    count += 1
    let n = count
    lock.unlock()
    if trace { FileHandle.standardError.write(Data("PGM-STEP \(n) \(label())\n".utf8)) }
    if n == killAt { kill(getpid(), SIGKILL) }
  }
}
