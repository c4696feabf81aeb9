// SIGINT / SIGTERM as a request to stop at the next safe point (after a training step is
// checkpointed, a batch of targets committed, an evaluation row saved), so that a run stopped with
// Ctrl-C says so and resumes like any other. A second signal stops at once (the default action).
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public enum Interruption {
  nonisolated(unsafe) private static var received: Int32 = 0
  nonisolated(unsafe) private static let notice = strdup("\npgm: stopping at the next safe point (a second Ctrl-C stops at once)\n")!

  /// Routes SIGINT and SIGTERM to `requested` (once per process; the commands that run phases call it).
  public static func install() {
    for sig in [SIGINT, SIGTERM] {
      signal(sig) { sig in
        Interruption.received = sig
        _ = write(2, Interruption.notice, strlen(Interruption.notice))
        signal(sig, SIG_DFL)
      }
    }
  }

  /// The signal received, if any.
  public static var requested: Int32? { received == 0 ? nil : received }

  /// Throws `Interrupted` once a signal was received.
  public static func check() throws {
    if let sig = requested { throw Interrupted(signal: sig) }
  }

  /// For tests: as if `sig` had been received (0: clears it).
  public static func simulate(_ sig: Int32) { received = sig }
}

/// The run stopped at a safe point after SIGINT or SIGTERM.
public struct Interrupted: Error, CustomStringConvertible {
  public var signal: Int32
  public init(signal: Int32) { self.signal = signal }
  public var description: String { "interrupted; rerun the same command to continue" }
  /// The shell's convention: 128 + the signal number.
  public var exitCode: Int32 { 128 + signal }
}
