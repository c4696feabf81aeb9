import Foundation

/// Files that appear whole or not at all: written under a temporary name beside the target,
/// flushed, then renamed over it (a reader never sees half a file; a crash leaves the old file or
/// a stray temporary, never a torn target). The one write-then-rename helper of the project.
///
/// Temporaries are named `.<name>.tmp-<pid>-<random>`, so that a later run can recognise and
/// remove those of processes that died (`removeStaleTemporaries`).
public enum AtomicFile {
  /// A fresh temporary name beside `url`.
  public static func temporaryURL(for url: URL) -> URL {
    url.deletingLastPathComponent()
      .appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
  }

  /// Writes `data` to `url` atomically (and durably: the data is flushed before the rename).
  public static func write(_ data: Data, to url: URL) throws {
    try build(url) { tmp in
      guard FileManager.default.createFile(atPath: tmp.path, contents: nil) else {
        throw FileError(path: url.path, operation: "create", code: errno)
      }
      let handle = try FileError.wrap(url.path, "open") { try FileHandle(forWritingTo: tmp) }
      defer { try? handle.close() }
      try FileError.wrap(url.path, "write") {
        try handle.write(contentsOf: data)
        try handle.synchronize()
      }
    }
  }

  /// Lets `body` write a complete file at a temporary URL, then moves it to `url`. If `body`
  /// throws, the temporary is removed and `url` is untouched.
  @discardableResult
  public static func build<T>(_ url: URL, _ body: (URL) throws -> T) throws -> T {
    let tmp = temporaryURL(for: url)
    do {
      let result = try body(tmp)
      try commit(tmp, to: url)
      return result
    } catch {
      try? FileManager.default.removeItem(at: tmp)
      throw error
    }
  }

  /// Renames a finished temporary file over `url`.
  public static func commit(_ tmp: URL, to url: URL) throws {
    guard rename(tmp.path, url.path) == 0 else { throw FileError(path: url.path, operation: "replace", code: errno) }
    FileSystemSteps.step(url.path)
  }

  /// Removes the temporaries of processes that no longer run, in `folder` (not recursively).
  /// Returns what was removed.
  @discardableResult
  public static func removeStaleTemporaries(in folder: URL) -> [URL] {
    guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder.path) else { return [] }
    var removed: [URL] = []
    for name in names where name.hasPrefix(".") && name.contains(".tmp-") {
      let parts = name.components(separatedBy: ".tmp-")
      guard let tail = parts.last, let pid = Int32(tail.split(separator: "-").first ?? "") else { continue }
      if pid == getpid() || kill(pid, 0) == 0 { continue }  // ours, or a live process's
      let url = folder.appendingPathComponent(name)
      if (try? FileManager.default.removeItem(at: url)) != nil { removed.append(url) }
    }
    return removed
  }
}

/// A failed file operation, as one line naming the path and the cause.
public struct FileError: Error, CustomStringConvertible, Equatable {
  public var path: String
  public var operation: String
  public var cause: String

  public init(path: String, operation: String, cause: String) {
    self.path = path; self.operation = operation; self.cause = cause
  }

  public init(path: String, operation: String, code: Int32) {
    self.init(path: path, operation: operation, cause: Self.describe(code))
  }

  public var description: String { "cannot \(operation) \(path): \(cause)" }

  /// strerror, with the advice a user needs for the common cases.
  public static func describe(_ code: Int32) -> String {
    let text = String(cString: strerror(code))
    switch code {
    case ENOSPC: return "\(text) (the disk is full; free space and rerun the same command to continue)"
    case EACCES, EPERM, EROFS: return "\(text) (the folder is not writable)"
    case ENOENT: return "\(text) (the folder does not exist)"
    default: return text
    }
  }

  /// Runs `body`, turning a Foundation/POSIX error into a one-line `FileError` for `path`.
  public static func wrap<T>(_ path: String, _ operation: String, _ body: () throws -> T) throws -> T {
    do { return try body() } catch let e as FileError { throw e } catch {
      let ns = error as NSError
      if let posix = ns.userInfo[NSUnderlyingErrorKey] as? NSError, posix.domain == NSPOSIXErrorDomain {
        throw FileError(path: path, operation: operation, code: Int32(posix.code))
      }
      if ns.domain == NSPOSIXErrorDomain { throw FileError(path: path, operation: operation, code: Int32(ns.code)) }
      throw FileError(path: path, operation: operation, cause: ns.localizedDescription)
    }
  }
}
