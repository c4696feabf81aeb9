import Formats
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One process at a time in a run folder: an exclusive `flock` on `<run>/.lock`, held for the
/// life of the process (the kernel drops it when the process ends, kill -9 included, so a stale
/// lock cannot exist). The file also says who holds it, so a second run can tell the user.
///
/// Two runs in one folder used to overwrite each other's half-written files (a token file wiped
/// under a running job, two trainers writing one checkpoint).
public final class RunLock {
  /// Who holds a run folder, as written into the lock file by the holder.
  public struct Holder: Codable, Equatable, CustomStringConvertible {
    public var pid: Int32
    public var host: String
    public var command: String
    public var started: String
    public var description: String { "process \(pid) on \(host) since \(started): \(command)" }
  }

  public let url: URL
  private var descriptor: Int32

  /// Every lock this process holds, by folder, so that one process can take a folder's lock again
  /// (a command that calls another phase) without deadlocking on itself.
  nonisolated(unsafe) private static var held: [String: RunLock] = [:]
  private static let heldLock = NSLock()

  private init(url: URL, descriptor: Int32) {
    self.url = url
    self.descriptor = descriptor
  }

  deinit { release() }

  /// Takes the lock of `folder` (created if needed) or throws `RunFolderError.busy` naming the
  /// holder. Returns the same lock if this process holds it already.
  public static func acquire(_ folder: URL, command: String = RunLock.currentCommand) throws -> RunLock {
    try acquireCounted(folder, command: command).lock
  }

  /// The lock, and whether this call took it (false: this process held it already).
  static func acquireCounted(_ folder: URL, command: String = RunLock.currentCommand) throws -> (lock: RunLock, fresh: Bool) {
    heldLock.lock()
    defer { heldLock.unlock() }
    let key = folder.standardizedFileURL.path
    if let lock = held[key], lock.descriptor >= 0 { return (lock, false) }
    try FileError.wrap(folder.path, "create the run folder") {
      try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }
    let url = folder.appendingPathComponent(".lock")
    let fd = open(url.path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw FileError(path: url.path, operation: "open the lock file", code: errno) }
    guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
      let code = errno
      let holder = readHolder(fd)
      close(fd)
      if code == EWOULDBLOCK { throw RunFolderError.busy(folder: folder.path, holder: holder) }
      throw FileError(path: url.path, operation: "lock", code: code)
    }
    let lock = RunLock(url: url, descriptor: fd)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    let me = Holder(pid: getpid(), host: ProcessInfo.processInfo.hostName, command: command,
                    started: ISO8601DateFormatter().string(from: Date()))
    var text = Array((try encoder.encode(me)) + Data("\n".utf8))
    guard ftruncate(fd, 0) == 0, pwrite(fd, &text, text.count, 0) == text.count else {
      let code = errno
      lock.closeDescriptor()
      throw FileError(path: url.path, operation: "write", code: code)
    }
    held[key] = lock
    return (lock, true)
  }

  /// Who holds the lock of `folder` now, if anyone (nil when it is free).
  public static func holder(of folder: URL) -> Holder? {
    let url = folder.appendingPathComponent(".lock")
    let fd = open(url.path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    if flock(fd, LOCK_SH | LOCK_NB) == 0 { flock(fd, LOCK_UN); return nil }
    return readHolder(fd)
  }

  static func readHolder(_ fd: Int32) -> Holder? {
    var buffer = [UInt8](repeating: 0, count: 4096)
    let n = pread(fd, &buffer, buffer.count, 0)
    guard n > 0 else { return nil }
    return try? JSONDecoder().decode(Holder.self, from: Data(buffer.prefix(n)))
  }

  /// Gives the lock up (the process ending does the same).
  public func release() {
    guard descriptor >= 0 else { return }
    RunLock.heldLock.lock()
    if let key = RunLock.held.first(where: { $0.value === self })?.key { RunLock.held[key] = nil }
    RunLock.heldLock.unlock()
    closeDescriptor()
  }

  fileprivate func closeDescriptor() {
    guard descriptor >= 0 else { return }
    flock(descriptor, LOCK_UN)
    close(descriptor)
    descriptor = -1
  }

  /// Releases every lock this process holds (tests that run several jobs in one process).
  public static func releaseAll() {
    heldLock.lock()
    defer { heldLock.unlock() }
    let locks = held.values
    held = [:]
    for lock in locks { lock.closeDescriptor() }
  }

  public static var currentCommand: String {
    CommandLine.arguments.map { $0.contains(" ") ? "'\($0)'" : $0 }.joined(separator: " ")
  }
}
