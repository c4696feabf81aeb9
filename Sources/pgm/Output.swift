import ArgumentParser
import Cluster
import Foundation
import Formats

/// Printing helpers shared by the commands.
enum Output {
  static func json<T: Encodable>(_ value: T) throws -> String {
    let enc = JSONEncoder()
    enc.outputFormatting = [.prettyPrinted, .sortedKeys]
    return String(decoding: try enc.encode(value), as: UTF8.self)
  }

  static func error(_ message: String) {
    FileHandle.standardError.write(("pgm: " + Communicator.world.label + message + "\n").data(using: .utf8)!)
  }

  /// Progress of rank 0 only (every rank of an mpirun job runs the same phases).
  static func rootProgress(_ message: String) {
    if Communicator.world.isRoot { progress(message) }
  }

  /// Progress to standard error, so that standard output stays machine-readable.
  static func progress(_ message: String) {
    FileHandle.standardError.write((message + "\n").data(using: .utf8)!)
  }
}

/// A failure that already has a user-facing message: printed as is, exit status 1.
struct CommandFailure: Error, CustomStringConvertible {
  let description: String
  init(_ message: String) { description = message }
}

/// Runs `body`, turning any thrown error into a clear message and exit status 1 (never a trace).
func reportingErrors<T>(_ body: () throws -> T) throws -> T {
  do { return try body() } catch let e as ExitCode { throw e } catch let e as CleanExit { throw e } catch let e as ValidationError {
    throw e
  } catch let e as Interrupted {
    Output.error(e.description)
    throw ExitCode(e.exitCode)
  } catch {
    Output.error(describeError(error))
    throw ExitCode.failure
  }
}

/// One line for any error: ours describe themselves; Foundation's file errors (a read-only folder,
/// a missing folder, a full disk) become "cannot <do> <path>: <cause>" instead of an NSError dump.
func describeError(_ error: Error) -> String {
  let text = String(describing: error)
  if !text.contains("Error Domain=") { return text }
  let ns = error as NSError
  let path = (ns.userInfo[NSFilePathErrorKey] as? String) ?? (ns.userInfo[NSURLErrorKey] as? URL)?.path
  var code: Int32?
  if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
    code = Int32(underlying.code)
  } else if ns.domain == NSPOSIXErrorDomain {
    code = Int32(ns.code)
  }
  let cause = code.map { FileError.describe($0) } ?? ns.localizedDescription
  if let path { return "cannot access \(path): \(cause)" }
  return cause
}
