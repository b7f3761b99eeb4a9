using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Serilog;

namespace Raid5Actors.Cli.Control;

/// <summary>
/// The serving process's side of the control socket: answers management commands from other
/// <c>raid5</c> processes by calling its own opened array, one request at a time per connection.
/// A request that fails is answered with its error; a malformed line closes that connection only.
/// </summary>
internal sealed class ControlServer : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly LocalArrayHandle _array;
    private readonly ILogger _log;
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<Task> _connections = [];
    private readonly Task _acceptLoop;

    private readonly string _controlFile;

    private ControlServer(Socket listener, string path, LocalArrayHandle array, ILogger log, string controlFile)
    {
        _controlFile = controlFile;
        _listener = listener;
        SocketPath = path;
        _array = array;
        _log = log;
        _acceptLoop = AcceptAsync();
    }

    public string SocketPath { get; }

    /// <summary>Listens on the folder's control socket. Call only while holding the folder's lock: an old socket file there is removed.</summary>
    public static ControlServer Start(string folder, LocalArrayHandle array, ILogger log)
    {
        var path = ControlProtocol.SocketPathFor(folder);
        // The lock is ours, so whoever left this socket is gone.
        File.Delete(path);
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            listener.Bind(new UnixDomainSocketEndPoint(path));
            listener.Listen(16);
        }
        catch
        {
            listener.Dispose();
            throw;
        }
        // Written after the socket listens, so a client that finds the file finds a socket.
        File.WriteAllText(Path.Combine(folder, ControlProtocol.kControlFileName), path);
        return new ControlServer(listener, path, array, log, Path.Combine(folder, ControlProtocol.kControlFileName));
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        _listener.Dispose();
        await _acceptLoop.ConfigureAwait(false);
        Task[] open;
        lock (_connections)
            open = [.. _connections];
        await Task.WhenAll(open).ConfigureAwait(false);
        File.Delete(_controlFile);
        File.Delete(SocketPath);
        _stopping.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }
            lock (_connections)
            {
                _connections.RemoveAll(t => t.IsCompleted);
                if (_connections.Count >= ControlProtocol.kMaxConnections)
                {
                    _log.Warning("control socket: {Count} connections open already; one more refused", _connections.Count);
                    client.Dispose();
                    continue;
                }
                _connections.Add(ServeAsync(client));
            }
        }
    }

    private async Task ServeAsync(Socket client)
    {
        await Task.Yield();
        using var stream = new NetworkStream(client, ownsSocket: true);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        await using var writer = new StreamWriter(stream, new UTF8Encoding(false)) { AutoFlush = true };
        try
        {
            while (await ControlProtocol.ReadLineAsync(reader, _stopping.Token).ConfigureAwait(false) is { } line)
            {
                var request = JsonSerializer.Deserialize<ControlRequest>(line, ControlProtocol.Json);
                if (request is null)
                    return;
                var reply = await AnswerAsync(request).ConfigureAwait(false);
                await writer.WriteLineAsync(JsonSerializer.Serialize(reply, ControlProtocol.Json).AsMemory(), _stopping.Token).ConfigureAwait(false);
            }
        }
        catch (JsonException e)
        {
            _log.Warning("control connection sent a malformed request ({Error}); closed", e.Message);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
        {
            // The client left, or the server stops: nothing is owed to anyone.
        }
    }

    private async Task<ControlReply> AnswerAsync(ControlRequest request)
    {
        var cancel = _stopping.Token;
        try
        {
            return request.Command switch
            {
                ControlCommand.Status => new ControlReply(true, Status: await _array.StatusAsync(cancel).ConfigureAwait(false)),
                ControlCommand.Fail => Done(await _array.FailAsync(RoleOf(request), cancel).ConfigureAwait(false)),
                ControlCommand.Remove => Done(await _array.RemoveAsync(RoleOf(request), cancel).ConfigureAwait(false)),
                ControlCommand.Add => Done(await _array.AddAsync(request.Device, cancel).ConfigureAwait(false)),
                ControlCommand.Check => Done(await _array.StartCheckAsync(repair: false, cancel).ConfigureAwait(false)),
                ControlCommand.Repair => Done(await _array.StartCheckAsync(repair: true, cancel).ConfigureAwait(false)),
                // A number outside the enum, from a client of another version.
                _ => new ControlReply(false, $"unknown control command {request.Command}"),
            };
        }
        catch (Exception e) when (e is Raid5Exception or ArgumentException or InvalidOperationException or TimeoutException or IOException)
        {
            return new ControlReply(false, e.Message);
        }

        ControlReply Done(string outcome)
        {
            _log.Information("control: {Request}: {Outcome}", request, outcome);
            return new ControlReply(true, Outcome: outcome);
        }
    }

    private static int RoleOf(ControlRequest request) =>
        request.Role ?? throw new ArgumentException($"{request.Command.ToString().ToLowerInvariant()} needs a member role");
}
