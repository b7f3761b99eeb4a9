namespace Raid5Actors.Nbd;

/// <summary>
/// A snapshot of what an <see cref="NbdServer"/> holds. Once every client has gone, connections,
/// requests, buffers and bytes are all back to zero: anything else is a leak.
/// </summary>
/// <param name="Connections">Connections open now (handshake or transmission).</param>
/// <param name="ConnectionsAccepted">Connections accepted since the start.</param>
/// <param name="RequestsInFlight">Requests read and not yet answered (or dropped, when the client went away).</param>
/// <param name="RequestsServed">Requests answered since the start, errors included.</param>
/// <param name="BuffersRented">Payload buffers taken from the pool and not yet given back.</param>
/// <param name="BufferedBytes">Payload bytes held against the server's buffer budget.</param>
public sealed record NbdServerStats(
    int Connections,
    long ConnectionsAccepted,
    long RequestsInFlight,
    long RequestsServed,
    long BuffersRented,
    long BufferedBytes);

/// <summary>Counters shared by the server and its connections; updated with <see cref="Interlocked"/>.</summary>
internal sealed class NbdServerCounters
{
    public long ConnectionsAccepted;
    public long RequestsInFlight;
    public long RequestsServed;
    public long BuffersRented;
}
