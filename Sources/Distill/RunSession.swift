import Cluster
import Formats
import Foundation

/// A command's stay in a run folder: it holds the folder's lock (one process at a time), removes
/// the temporary files that killed runs left behind, and releases the lock when done.
public enum RunSession {
  /// Runs `body` holding `run`'s lock (taken again freely by the same process). In an mpirun job
  /// rank 0 holds it for the job; the other ranks run `body` without it (they write nothing there).
  public static func exclusive<T>(_ run: RunFolder, log: (String) -> Void = { _ in }, world: Communicator = .single,
                                  _ body: () throws -> T) throws -> T {
    guard world.isRoot else { return try body() }
    let (lock, fresh) = try RunLock.acquireCounted(run.root)
    defer { if fresh { lock.release() } }
    if fresh {
      let removed = removeStaleTemporaries(run.root)
      if !removed.isEmpty { log("removed \(removed.count) temporary file(s) left by an interrupted run") }
    }
    return try body()
  }

  /// Temporaries (`.<name>.tmp-<pid>-…`) of processes that no longer run, anywhere in the folder.
  @discardableResult
  public static func removeStaleTemporaries(_ root: URL) -> [URL] {
    var removed = AtomicFile.removeStaleTemporaries(in: root)
    guard let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isDirectoryKey]) else { return removed }
    for case let url as URL in walker {
      if (try? url.resourceValues(forKeys: [.isDirectoryKey]).isDirectory) == true {
        removed += AtomicFile.removeStaleTemporaries(in: url)
      }
    }
    return removed
  }
}
