namespace Raid5Actors;

/// <summary>The array refused or could not complete an operation; the message says why.</summary>
public class Raid5Exception(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>Creating or opening an array was refused; nothing was written.</summary>
public sealed class Raid5OpenException(string message, Exception? inner = null) : Raid5Exception(message, inner);

/// <summary>A member read or write failed while serving a request.</summary>
public sealed class Raid5IoException(string message) : Raid5Exception(message);
