using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Serilog;

namespace Raid5Actors.Nbd;

/// <summary>
/// Serves one block device (a <see cref="Raid5Array"/>, or a read-only md array) over the NBD protocol on a TCP endpoint, as the export
/// <c>""</c> and as <see cref="NbdServerOptions.ExportName"/>, until <see cref="StopAsync"/>.
///
/// Protocol: fixed newstyle handshake only; options NBD_OPT_EXPORT_NAME, ABORT, LIST, INFO, GO
/// (NBD_INFO_EXPORT, NAME, DESCRIPTION, BLOCK_SIZE) and STRUCTURED_REPLY; every other option is
/// answered NBD_REP_ERR_UNSUP (STARTTLS, meta contexts / block status, extended headers).
/// Transmission: READ, WRITE, FLUSH, TRIM, WRITE_ZEROES, DISC, with FUA; many requests in flight
/// per connection, answered in completion order; multi-connection safe. Requests must be aligned to
/// 512 bytes (the advertised minimum block size), or they are refused with EINVAL.
///
/// The array is not owned: stop the server before disposing the array.
/// </summary>
public sealed class NbdServer : IAsyncDisposable
{
    /// <summary>The array's sector: the smallest and the alignment of every request.</summary>
    public const int kMinimumBlockBytes = 512;

    private readonly IBlockDevice _array;
    private readonly NbdServerOptions _options;
    private readonly ILogger _log;
    private readonly Socket _listener;
    private readonly ByteBudget _budget;
    private readonly NbdServerCounters _counters = new();
    private readonly ConcurrentDictionary<long, (NbdConnection Connection, Task Completion)> _connections = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _stopGate = new();
    private Task? _acceptLoop;
    private Task? _stopped;
    private long _nextConnectionId;

    private NbdServer(IBlockDevice array, NbdServerOptions options, ILogger log, Socket listener)
    {
        _array = array;
        _options = options;
        _log = log;
        _listener = listener;
        _budget = new ByteBudget(options.ServerBufferBytes);
        LocalEndPoint = (IPEndPoint)listener.LocalEndPoint!;
    }

    /// <summary>The address and port the server listens on (the chosen one when the options said port 0).</summary>
    public IPEndPoint LocalEndPoint { get; }

    public int Port => LocalEndPoint.Port;

    public NbdServerOptions Options => _options;

    /// <summary>Binds the endpoint (throws <see cref="SocketException"/> if it is taken) and starts accepting clients.</summary>
    /// <summary>
    /// SO_REUSEADDR alone: a restarted server need not wait for the previous one's connections to
    /// leave TIME_WAIT. Not .NET's ReuseAddress: on Linux it also sets SO_REUSEPORT, and then a second
    /// server on the same port binds too and the kernel hands it half of the clients, of another array.
    /// (On Windows SO_REUSEADDR itself would let another process share the port, so it stays off.)
    /// </summary>
    private static void AllowRebindAfterRestart(Socket listener)
    {
        var (level, option) = OperatingSystem.IsLinux() ? (1, 2) : OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD() ? (0xffff, 4) : (0, 0);
        if (option != 0)
            listener.SetRawSocketOption(level, option, BitConverter.GetBytes(1));
    }

    public static NbdServer Start(IBlockDevice array, NbdServerOptions? options = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(array);
        options ??= new NbdServerOptions();
        options.Validate();
        var log = logger ?? Log.ForContext<NbdServer>();
        var listener = new Socket(options.BindAddress.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            AllowRebindAfterRestart(listener);
            listener.Bind(new IPEndPoint(options.BindAddress, options.Port));
            listener.Listen(128);
        }
        catch
        {
            listener.Dispose();
            throw;
        }
        var server = new NbdServer(array, options, log, listener);
        server._acceptLoop = server.AcceptAsync();
        log.Information("NBD server listening on {Endpoint}, exports \"\" and {ExportName} ({CapacityBytes} bytes)",
            server.LocalEndPoint, options.ExportName, array.CapacityBytes);
        return server;
    }

    public NbdServerStats GetStats() => new(
        _connections.Count,
        Interlocked.Read(ref _counters.ConnectionsAccepted),
        Interlocked.Read(ref _counters.RequestsInFlight),
        Interlocked.Read(ref _counters.RequestsServed),
        Interlocked.Read(ref _counters.BuffersRented),
        _budget.InUseBytes);

    /// <summary>
    /// Stops listening, stops reading requests, lets every request already read finish and its
    /// reply go out (for at most <see cref="NbdServerOptions.ShutdownGrace"/>, then connections are
    /// cut), and closes every connection. Requests the array is still serving always finish first.
    /// </summary>
    public Task StopAsync()
    {
        lock (_stopGate)
            return _stopped ??= StopCoreAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _stopping.Dispose();
    }

    private async Task StopCoreAsync()
    {
        _stopping.Cancel();
        _listener.Dispose();
        if (_acceptLoop is not null)
            await _acceptLoop.ConfigureAwait(false);

        var running = _connections.Values.ToArray();
        var all = Task.WhenAll(running.Select(c => c.Completion));
        if (await Task.WhenAny(all, Task.Delay(_options.ShutdownGrace)).ConfigureAwait(false) != all)
        {
            _log.Warning("NBD connections still busy after {Grace}; cutting them", _options.ShutdownGrace);
            foreach (var (connection, _) in running)
                connection.Abort();
        }
        await all.ConfigureAwait(false);
        _log.Information("NBD server on {Endpoint} stopped", LocalEndPoint);
    }

    private async Task AcceptAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (_stopping.IsCancellationRequested && e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }
            catch (SocketException e)
            {
                // E.g. out of file descriptors: back off instead of spinning.
                _log.Warning("NBD server could not accept a connection: {Reason}", e.Message);
                await Task.Delay(TimeSpan.FromMilliseconds(100)).ConfigureAwait(false);
                continue;
            }
            try
            {
                Serve(socket);
            }
            catch (Exception e) when (e is SocketException or IOException or ObjectDisposedException)
            {
                // The client reset before it could be set up; the next one must still be accepted.
                _log.Information("NBD client left before its connection was set up: {Reason}", e.Message);
                socket.Dispose();
            }
        }
    }

    private void Serve(Socket socket)
    {
        Interlocked.Increment(ref _counters.ConnectionsAccepted);
        if (_connections.Count >= _options.MaxConnections)
        {
            _log.Warning("NBD server refused {Client}: already {Count} connections", socket.RemoteEndPoint, _connections.Count);
            socket.Dispose();
            return;
        }
        // Replies are small and latency-bound; the writer batches them itself.
        socket.NoDelay = true;
        var id = Interlocked.Increment(ref _nextConnectionId);
        var connection = new NbdConnection(id, socket, _array, _options, _budget, _counters, _log);
        // Registered before it runs, so that its own removal always comes after.
        var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var completion = RunAsync(connection, start.Task);
        _connections[id] = (connection, completion);
        start.SetResult();
    }

    private async Task RunAsync(NbdConnection connection, Task registered)
    {
        await registered.ConfigureAwait(false);
        try
        {
            await connection.RunAsync(_stopping.Token).ConfigureAwait(false);
        }
        finally
        {
            _connections.TryRemove(connection.Id, out _);
        }
    }
}
