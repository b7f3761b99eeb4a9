using System.Buffers;
using System.Diagnostics;
using System.Net.Sockets;
using System.Threading.Channels;
using Serilog;

namespace Raid5Actors.Nbd;

/// <summary>
/// One client, from accept to close.
///
/// Owns: the socket; the reader (handshake, then one request after another, started concurrently
/// on the array); the reply writer, the only task that sends once transmission starts, fed through
/// <see cref="_replies"/>; every payload buffer of its requests until the reply carrying it is
/// written (or dropped); one slot of <see cref="_slots"/> per request read and not yet answered, and
/// its bytes in <see cref="_budget"/> and the server's budget.
///
/// Guarantees: a reply is sent only after the array finished the request, and with FUA only once
/// the data is durable (so an acknowledged write is in the array whatever the client does next);
/// replies go out in completion order; at most MaxRequestsInFlightPerConnection requests and
/// ConnectionBufferBytes payload bytes are held; however the connection ends (DISC, the client
/// vanishing, garbage, server stop) every request already read is finished before the socket is
/// released, and every buffer, slot and budget byte is given back.
/// </summary>
internal sealed partial class NbdConnection
{
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly NbdInput _input;
    private readonly IBlockDevice _array;
    private readonly NbdServerOptions _options;
    private readonly ByteBudget _serverBudget;
    private readonly ByteBudget _budget;
    private readonly NbdServerCounters _counters;
    private readonly SemaphoreSlim _slots;
    private readonly Channel<NbdReply> _replies;
    private readonly ILogger _log;
    private int _aborted;

    public NbdConnection(long id, Socket socket, IBlockDevice array, NbdServerOptions options, ByteBudget serverBudget, NbdServerCounters counters, ILogger log)
    {
        Id = id;
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
        _input = new NbdInput(_stream);
        _array = array;
        _options = options;
        _serverBudget = serverBudget;
        _budget = new ByteBudget(options.ConnectionBufferBytes);
        _counters = counters;
        _slots = new SemaphoreSlim(options.MaxRequestsInFlightPerConnection, options.MaxRequestsInFlightPerConnection);
        // A reply holds its request's slot until the writer takes it, so the channel is never full.
        _replies = Channel.CreateBounded<NbdReply>(new BoundedChannelOptions(options.MaxRequestsInFlightPerConnection)
        {
            SingleReader = true,
            SingleWriter = false,
            FullMode = BoundedChannelFullMode.Wait,
        });
        _log = log.ForContext("Connection", id).ForContext("Client", socket.RemoteEndPoint?.ToString());
    }

    private enum Phase
    {
        Handshake,
        Transmission,
    }

    public long Id { get; }

    /// <summary>Serves the client until it leaves or <paramref name="stopping"/> fires, then releases everything.</summary>
    public async Task RunAsync(CancellationToken stopping)
    {
        try
        {
            if (await NegotiateAsync(stopping).ConfigureAwait(false))
                await TransmitAsync(stopping).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            // Only the handshake gets here (transmission handles its own ends); nothing is held yet.
            LogEnd(Phase.Handshake, e, stopping);
        }
        finally
        {
            Close();
        }
    }

    /// <summary>Cuts the connection at once (hard disconnect); requests already read still finish on the array.</summary>
    public void Abort()
    {
        if (Interlocked.Exchange(ref _aborted, 1) != 0)
            return;
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
        _stream.Dispose();
    }

    private void Close()
    {
        Abort();
        Debug.Assert(_slots.CurrentCount == _options.MaxRequestsInFlightPerConnection, "a request slot outlived its connection");
        Debug.Assert(_budget.InUseBytes == 0, "payload bytes outlived their connection");
        _slots.Dispose();
    }

    private void LogEnd(Phase phase, Exception e, CancellationToken stopping)
    {
        switch (e)
        {
            case OperationCanceledException when stopping.IsCancellationRequested:
                _log.Debug("NBD connection closed in {Phase}: the server is stopping", phase);
                break;
            case OperationCanceledException when phase == Phase.Handshake:
                _log.Information("NBD client did not finish the handshake within {Timeout}; disconnected", _options.HandshakeTimeout);
                break;
            case NbdProtocolException:
                _log.Warning("NBD client broke the protocol in {Phase}: {Reason}; disconnected", phase, e.Message);
                break;
            case EndOfStreamException or IOException or SocketException or ObjectDisposedException:
                _log.Information("NBD client went away in {Phase}: {Reason}", phase, e.Message);
                break;
            default:
                _log.Error(e, "NBD connection failed in {Phase}", phase);
                break;
        }
    }

    private byte[] RentBuffer(int lengthBytes)
    {
        Interlocked.Increment(ref _counters.BuffersRented);
        return ArrayPool<byte>.Shared.Rent(lengthBytes);
    }

    private void ReturnBuffer(byte[] buffer)
    {
        ArrayPool<byte>.Shared.Return(buffer);
        Interlocked.Decrement(ref _counters.BuffersRented);
    }

    /// <summary>Takes <paramref name="bytes"/> from this connection's budget, then from the server's (always in this order).</summary>
    private async ValueTask AcquireBytesAsync(long bytes, CancellationToken cancellationToken)
    {
        await _budget.AcquireAsync(bytes, cancellationToken).ConfigureAwait(false);
        try
        {
            await _serverBudget.AcquireAsync(bytes, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            _budget.Release(bytes);
            throw;
        }
    }

    private void ReleaseBytes(long bytes)
    {
        _serverBudget.Release(bytes);
        _budget.Release(bytes);
    }
}
