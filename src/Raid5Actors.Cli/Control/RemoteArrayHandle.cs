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

    private RemoteArrayHandle(Socket socket)
    {
        _socket = socket;
        var stream = new NetworkStream(socket, ownsSocket: true);
        _reader = new StreamReader(stream, Encoding.UTF8);
        _writer = new StreamWriter(stream, new UTF8Encoding(false)) { AutoFlush = true };
    }

    public bool IsRemote => true;

    /// <summary>Connects to the process serving <paramref name="folder"/>, or null when none listens there.</summary>
    public static async Task<RemoteArrayHandle?> TryConnectAsync(string folder, CancellationToken cancellationToken)
    {
        var path = ControlProtocol.SocketPathFor(folder);
        if (!File.Exists(path))
            return null;
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), cancellationToken).ConfigureAwait(false);
            return new RemoteArrayHandle(socket);
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
        try
        {
            await _writer.WriteLineAsync(JsonSerializer.Serialize(request, ControlProtocol.Json).AsMemory(), cancellationToken).ConfigureAwait(false);
            var line = await _reader.ReadLineAsync(cancellationToken).ConfigureAwait(false)
                ?? throw new Raid5Exception("the serving process closed its control connection (it may be stopping)");
            var reply = JsonSerializer.Deserialize<ControlReply>(line, ControlProtocol.Json)
                ?? throw new Raid5Exception("the serving process sent an empty control reply");
            return reply.Ok ? reply : throw new Raid5Exception(reply.Error ?? "the serving process refused the request");
        }
        catch (IOException e)
        {
            throw new Raid5Exception($"lost the connection to the serving process: {e.Message}", e);
        }
    }
}
