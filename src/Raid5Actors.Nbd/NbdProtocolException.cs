namespace Raid5Actors.Nbd;

/// <summary>The client broke the protocol in a way that leaves no reply possible: the connection is cut.</summary>
internal sealed class NbdProtocolException(string message) : Exception(message);
