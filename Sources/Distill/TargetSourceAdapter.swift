import Engine
import Student

extension TargetReader: TargetSource {
  public var length: Int { header.length }
}
