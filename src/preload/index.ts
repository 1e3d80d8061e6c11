import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';

// The only thing the renderer gets: one call function and one event subscription, carrying
// the typed contract. Main validates everything; ipcRenderer itself is never exposed.
contextBridge.exposeInMainWorld('otac', {
  call: (channel: string, payload: unknown): Promise<unknown> => ipcRenderer.invoke('otac:call', channel, payload),
  onEvent: (listener: (name: string, payload: unknown) => void): (() => void) => {
    const wrapped = (_e: IpcRendererEvent, name: string, payload: unknown) => listener(name, payload);
    ipcRenderer.on('otac:event', wrapped);
    return () => {
      ipcRenderer.removeListener('otac:event', wrapped);
    };
  },
});
