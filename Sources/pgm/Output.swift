import ArgumentParser
import Cluster
import Foundation

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
  } catch {
    Output.error(String(describing: error))
    throw ExitCode.failure
  }
}
