using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Raid5Actors.Cli.Output;

namespace Raid5Actors.Cli.Control;

/// <summary>An array another process serves: each operation is one request on its control socket.</summary>
internal sealed class RemoteArrayHandle : IArrayHandle
{
    private readonly Socket _socket;
    private readonly StreamReader _reader;
    private readonly StreamWriter _writer;

    private readonly TimeSpan _timeout;

    private RemoteArrayHandle(Socket socket, TimeSpan timeout)
    {
        _socket = socket;
        _timeout = timeout;
        var stream = new NetworkStream(socket, ownsSocket: true);
        _reader = new StreamReader(stream, Encoding.UTF8);
        _writer = new StreamWriter(stream, new UTF8Encoding(false)) { AutoFlush = true };
    }

    public bool IsRemote => true;

    /// <summary>
    /// Connects to the process serving <paramref name="folder"/>, or null when none listens there.
    /// Each request then waits at most <paramref name="timeout"/> for its answer.
    /// </summary>
    public static async Task<RemoteArrayHandle?> TryConnectAsync(string folder, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var path = ControlProtocol.SocketPathToTry(folder);
        if (!File.Exists(path))
            return null;
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            using var connectTimeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            connectTimeout.CancelAfter(timeout);
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), connectTimeout.Token).ConfigureAwait(false);
            return new RemoteArrayHandle(socket, timeout);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            socket.Dispose();
            throw new Raid5Exception($"the process serving {folder} did not accept a control connection on {path} within {timeout}");
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionRefused or SocketError.AddressNotAvailable)
        {
            // A socket file left by a process that died: nobody serves the array.
            socket.Dispose();
            return null;
        }
    }

    public async Task<StatusDocument> StatusAsync(CancellationToken cancellationToken) =>
        (await SendAsync(new ControlRequest(ControlCommand.Status), cancellationToken).ConfigureAwait(false)).Status
        ?? throw new Raid5Exception("the serving process answered a status request without a status");

    public Task<string> FailAsync(int role, CancellationToken cancellationToken) =>
        OutcomeAsync(new ControlRequest(ControlCommand.Fail, Role: role), cancellationToken);

    public Task<string> RemoveAsync(int role, CancellationToken cancellationToken) =>
        OutcomeAsync(new ControlRequest(ControlCommand.Remove, Role: role), cancellationToken);

    public Task<string> AddAsync(int? device, CancellationToken cancellationToken) =>
        OutcomeAsync(new ControlRequest(ControlCommand.Add, Device: device), cancellationToken);

    public Task<string> StartCheckAsync(bool repair, CancellationToken cancellationToken) =>
        OutcomeAsync(new ControlRequest(repair ? ControlCommand.Repair : ControlCommand.Check), cancellationToken);

    public ValueTask DisposeAsync()
    {
        _reader.Dispose();
        _writer.Dispose();
        _socket.Dispose();
        return ValueTask.CompletedTask;
    }

    private async Task<string> OutcomeAsync(ControlRequest request, CancellationToken cancellationToken) =>
        (await SendAsync(request, cancellationToken).ConfigureAwait(false)).Outcome ?? "";

    private async Task<ControlReply> SendAsync(ControlRequest request, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_timeout);
        try
        {
            await _writer.WriteLineAsync(JsonSerializer.Serialize(request, ControlProtocol.Json).AsMemory(), timeout.Token).ConfigureAwait(false);
            var line = await ControlProtocol.ReadLineAsync(_reader, timeout.Token).ConfigureAwait(false)
                ?? throw new Raid5Exception("the serving process closed its control connection (it may be stopping)");
            var reply = JsonSerializer.Deserialize<ControlReply>(line, ControlProtocol.Json)
                ?? throw new Raid5Exception("the serving process sent an empty control reply");
            return reply.Ok ? reply : throw new Raid5Exception(reply.Error ?? "the serving process refused the request");
        }
        catch (IOException e)
        {
            throw new Raid5Exception($"lost the connection to the serving process: {e.Message}", e);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new Raid5Exception($"the serving process did not answer {request.Command.ToString().ToLowerInvariant()} within {_timeout}");
        }
    }
}
